import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// Support for the root-only TLS lab: the tools it needs, the three-namespace topology (client —
// middlebox — server) and its private PKI. Processes, namespaces, skips and openssl come from
// IntegrationSupport.

/// Absolute paths of the programs the lab needs.
struct LabTools {
    var ip: String
    var ss: String
    var iptables: String
    var openssl: String
    var tcpdump: String
    var shell: String

    /// The tools, or an XCTSkip that says what is missing (printed too, so CI logs show it).
    static func require() throws -> LabTools {
        let suite = "TLSIntegrationTests"
        try Requirements.requireRoot(suite, "needs root (network namespaces, iptables, tcpdump)")
        let found = try Requirements.requireTools(suite, [("ip", "iproute2"), ("ss", "iproute2"), ("iptables", "iptables"),
                                                          ("openssl", "openssl"), ("tcpdump", "tcpdump"), ("sh", "a POSIX shell")])
        let tools = LabTools(ip: found["ip"]!, ss: found["ss"]!, iptables: found["iptables"]!, openssl: found["openssl"]!,
                             tcpdump: found["tcpdump"]!, shell: found["sh"]!)
        // The userspace half of the string match; the kernel half is checked when the rule goes in.
        let help = try runBounded(tools.iptables, ["-m", "string", "--help"], timeout: 10)
        guard (help.stdout + help.stderr).contains("string match options") else {
            throw Requirements.skip(suite, "iptables has no 'string' match extension: \(help.stderr.prefix(200))")
        }
        return tools
    }
}

/// client — middlebox — server, each its own network namespace, joined by two veth pairs:
///   client  198.18.1.1/30 ── 198.18.1.2/30  middlebox  198.18.2.1/30 ── 198.18.2.2/30  server
/// (198.18.0.0/15 is the benchmarking range; the host uses 192.0.2.0/24 and fd00::/64). The client
/// and the server only have a route to each other's /30 through the middlebox, which forwards;
/// no namespace has a default route, IPv6 is off, so nothing can leave the lab.
final class Lab: NamespaceLab {
    static let clientAddress = "198.18.1.1"
    static let middleboxClientSide = "198.18.1.2"
    static let middleboxServerSide = "198.18.2.1"
    static let serverAddress = "198.18.2.2"

    let tools: LabTools
    let tag: String
    let clientNS: String, middleboxNS: String, serverNS: String
    /// Interface names (≤ 15 bytes): the client's, the middlebox's two, the server's.
    let clientIf: String, middleboxClientIf: String, middleboxServerIf: String, serverIf: String

    init(tools: LabTools, tag: String) throws {
        self.tools = tools
        self.tag = tag
        let pid = getpid()
        clientNS = "dnsaudit-tls-\(pid)-\(tag)-client"
        middleboxNS = "dnsaudit-tls-\(pid)-\(tag)-mbox"
        serverNS = "dnsaudit-tls-\(pid)-\(tag)-server"
        clientIf = "c\(pid)\(tag)"
        middleboxClientIf = "mc\(pid)\(tag)"
        middleboxServerIf = "ms\(pid)\(tag)"
        serverIf = "s\(pid)\(tag)"
        try super.init(ip: tools.ip, shell: tools.shell, label: "TLS lab", dirPrefix: "dnsaudit-tls-\(pid)-\(tag)")
    }

    func build() throws {
        for ns in [clientNS, middleboxNS, serverNS] {
            try addNamespace(ns)
        }
        try addLink(clientIf, in: clientNS, address: "\(Lab.clientAddress)/30",
                    peer: middleboxClientIf, in: middleboxNS, peerAddress: "\(Lab.middleboxClientSide)/30")
        try addLink(middleboxServerIf, in: middleboxNS, address: "\(Lab.middleboxServerSide)/30",
                    peer: serverIf, in: serverNS, peerAddress: "\(Lab.serverAddress)/30")
        // Only the two lab /30s, only through the middlebox. No default route anywhere.
        try addRoute("198.18.2.0/30", via: Lab.middleboxClientSide, in: clientNS)
        try addRoute("198.18.1.0/30", via: Lab.middleboxServerSide, in: serverNS)
        try sysctl(middleboxNS, "net.ipv4.ip_forward", "1")
    }

    /// `openssl s_server` answering on `port` with `cert`/`key`, once its socket is listening.
    func startTLSServer(_ ns: String, name: String, port: Int, cert: URL, key: URL) throws -> SpawnedProcess {
        let s = try spawn(ns, name: name, [tools.openssl, "s_server", "-4", "-accept", String(port), "-cert", cert.path,
                                           "-key", key.path, "-www", "-quiet"])
        try waitListening(ns, s, ["0.0.0.0:\(port)"], ss: tools.ss)
        return s
    }

    /// tcpdump on the client's interface, returned once it is really capturing.
    func startCapture(_ file: URL) throws -> SpawnedProcess {
        try startCapture(file, in: clientNS, interface: clientIf, tcpdump: tools.tcpdump)
    }

    /// `openssl s_client` from the client namespace, bounded.
    func tlsConnect(sni: String, caFile: URL, extra: [String] = [], timeout: TimeInterval = 10) throws -> RunOutcome {
        try exec(clientNS, [tools.openssl, "s_client", "-4", "-connect", "\(Lab.serverAddress):443", "-servername", sni,
                            "-CAfile", caFile.path] + extra, timeout: timeout)
    }
}

/// The test PKI: a lab root CA and a server certificate for ok.lab.test and blocked.lab.test; and
/// a second, unrelated "Lab Interception CA" with its own certificate for the same names.
struct LabPKI {
    static let interceptionCAName = "Lab Interception CA"

    var caCert: URL
    var serverCert: URL, serverKey: URL
    var interceptionCACert: URL
    var interceptionCert: URL, interceptionKey: URL

    static func make(in dir: URL, openssl: String) throws -> LabPKI {
        let pki = OpenSSLTestPKI(dir: dir, openssl: openssl)
        let names = ["ok.lab.test", "blocked.lab.test"]
        try pki.makeCA("ca", subject: "/O=dnsaudit lab/CN=Lab Test Root CA")
        try pki.makeServerCertificate("server", ca: "ca", commonName: "ok.lab.test", dnsNames: names)
        try pki.makeCA("interception-ca", subject: "/O=Lab Interception/CN=\(interceptionCAName)")
        try pki.makeServerCertificate("interception", ca: "interception-ca", commonName: "ok.lab.test", dnsNames: names)
        return LabPKI(caCert: pki.url("ca.pem"), serverCert: pki.url("server.pem"), serverKey: pki.url("server.key"),
                      interceptionCACert: pki.url("interception-ca.pem"), interceptionCert: pki.url("interception.pem"),
                      interceptionKey: pki.url("interception.key"))
    }
}

/// One `dnsaudit analyze --format json` run, parsed.
struct AnalyzeReport {
    var status: Int32
    var stderr: String
    var report: [String: Any]
    var findings: [[String: Any]] { report["findings"] as? [[String: Any]] ?? [] }
    var summary: [String: Any] { report["summary"] as? [String: Any] ?? [:] }

    func findings(kind: String) -> [[String: Any]] { findings.filter { $0["kind"] as? String == kind } }

    /// What the tool printed, compactly, for failure messages and the log.
    var described: String {
        let lines = DNSAuditReport.findingLines(findings)
        let counts = ["packets", "tls_client_hellos"].map { "\($0)=\(summary[$0] ?? "?")" }.joined(separator: " ")
        return "exit \(status); \(counts); \(findings.count) finding(s)" + (lines.isEmpty ? "" : ":\n" + lines.joined(separator: "\n"))
            + (stderr.isEmpty ? "" : "\n  stderr: \(stderr.prefix(500))")
    }

    static func json(_ o: Any) -> String { DNSAuditReport.json(o) }

    static func run(_ capture: URL, extra: [String] = []) throws -> AnalyzeReport {
        let exe = PackagePaths.dnsaudit
        guard FileManager.default.isExecutableFile(atPath: exe.path) else {
            throw LabError("\(exe.path) is not built (swift build --build-tests)")
        }
        let r = try runBounded(exe.path, ["analyze", "--format", "json"] + extra + [capture.path], timeout: 120)
        guard !r.timedOut else { throw LabError("dnsaudit analyze did not finish in 120 s") }
        guard r.status == 0 || r.status == 1 else {
            throw LabError("dnsaudit analyze \((extra + [capture.lastPathComponent]).joined(separator: " ")) exited \(r.status): \(r.stderr)")
        }
        guard let o = try? JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any] else {
            throw LabError("dnsaudit analyze printed no JSON report: \(r.stdout.prefix(500)) \(r.stderr.prefix(500))")
        }
        return AnalyzeReport(status: r.status, stderr: r.stderr, report: o)
    }
}
