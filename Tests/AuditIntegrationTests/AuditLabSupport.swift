import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// Support for the root-only audit lab: the tools it needs, the three-namespace topology
// (client — router — services) with unbound (Do53 / DoT / DoH), a rogue dnsmasq and a web
// server, the lab's private PKI, a tiny DNS client that runs inside a namespace (a hand-made DNS
// encoder instead of DNSWire), and dnsaudit's JSON reports. Processes (and why servers are
// started with posix_spawn), namespaces, skips, openssl and the built dnsaudit come from
// IntegrationSupport.
//
// Network rule: every packet this lab sends stays in the namespaces it creates. The namespaces
// have no default route and no link to the host; dnsaudit (live, audit, even --print-systemd)
// and the test's own DNS queries run inside them; the servers answer local zones only.

/// Absolute paths of the programs the lab needs.
struct AuditLabTools {
    static let suite = "AuditIntegrationTests"

    var ip: String
    var ss: String
    var nft: String
    var unbound: String
    var dnsmasq: String
    var openssl: String

    static func find(_ name: String) -> String? { Requirements.findTool(name) }

    /// Every executable called `name` on the PATH and in the usual system directories, in order.
    static func findAll(_ name: String) -> [String] {
        var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        dirs += Requirements.standardDirectories
        var seen = Set<String>(), out: [String] = []
        for d in dirs where !d.isEmpty {
            let p = d + "/" + name
            if FileManager.default.isExecutableFile(atPath: p), seen.insert(p).inserted { out.append(p) }
        }
        return out
    }

    /// The tools, or an XCTSkip that says what is missing (printed too, so CI logs show it).
    static func require() throws -> AuditLabTools {
        try Requirements.requireRoot(suite, "needs root (network namespaces, nftables, live capture)")
        let found = try Requirements.requireTools(suite, [("ip", "iproute2"), ("ss", "iproute2"), ("nft", "nftables"), ("unbound", "unbound"),
                                                          ("dnsmasq", "dnsmasq-base"), ("openssl", "openssl")])
        guard PackagePaths.dnsauditIsBuilt else {
            throw LabError("\(PackagePaths.dnsaudit.path) is not built (swift build --build-tests)")
        }
        return AuditLabTools(ip: found["ip"]!, ss: found["ss"]!, nft: found["nft"]!, unbound: found["unbound"]!,
                             dnsmasq: found["dnsmasq"]!, openssl: found["openssl"]!)
    }
}

// MARK: - Processes

extension SpawnedProcess {
    /// What it wrote to standard output, as bytes (a JSON report).
    var stdoutData: Data { (try? Data(contentsOf: stdoutURL)) ?? Data() }

    /// Waits (bounded) for the process to end by itself; true if it did.
    func waitForExit(timeout: TimeInterval) -> Bool { waitUntil(timeout: timeout, poll: 0.05) { !isRunning } }
}

/// The uid fields (real, effective, saved, fs) of a running process.
func auditProcessUids(_ pid: Int32) -> [String]? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
        return line.dropFirst(4).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }
    return nil
}

// MARK: - DNS from inside a namespace

/// A stop flag shared with a background thread.
final class AuditStopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var count = 0
    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
    func stop() { lock.lock(); stopped = true; lock.unlock() }
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// A tiny DNS client whose socket lives in a lab namespace (`NamespaceThread`: a fresh thread joins
/// the namespace with setns(2), checks that it really is there, asks, and ends). No dig needed;
/// the test's own queries never leave the lab.
enum AuditNamespaceDNS {
    struct Answer {
        var rcode: Int
        var addresses: [String]
    }

    /// An RD query for `name` (A by default), built by hand.
    static func makeQuery(id: UInt16, name: String, type: UInt16 = 1) -> [UInt8] {
        var q: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") {
            let bytes = Array(label.utf8)
            q.append(UInt8(bytes.count))
            q += bytes
        }
        q += [0, UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
        return q
    }

    /// The rcode and the A / AAAA addresses of a response (names skipped, pointers allowed).
    static func parse(_ m: [UInt8], id: UInt16) throws -> Answer {
        guard m.count >= 12 else { throw LabError("DNS answer too short (\(m.count) bytes)") }
        guard UInt16(m[0]) << 8 | UInt16(m[1]) == id else { throw LabError("DNS answer with the wrong id") }
        let qd = Int(m[4]) << 8 | Int(m[5]), an = Int(m[6]) << 8 | Int(m[7])
        var i = 12
        func skipName() throws {
            while true {
                guard i < m.count else { throw LabError("DNS name runs past the end") }
                let l = Int(m[i])
                if l & 0xC0 == 0xC0 { i += 2; return }
                i += 1
                if l == 0 { return }
                i += l
            }
        }
        for _ in 0..<qd { try skipName(); i += 4 }
        var addrs: [String] = []
        for _ in 0..<an {
            try skipName()
            guard i + 10 <= m.count else { throw LabError("DNS record header runs past the end") }
            let type = Int(m[i]) << 8 | Int(m[i + 1])
            let len = Int(m[i + 8]) << 8 | Int(m[i + 9])
            i += 10
            guard i + len <= m.count else { throw LabError("DNS rdata runs past the end") }
            if type == 1, len == 4 {
                addrs.append(m[i..<i + 4].map { String($0) }.joined(separator: "."))
            } else if type == 28, len == 16 {
                var a = in6_addr()
                withUnsafeMutableBytes(of: &a) { $0.copyBytes(from: m[i..<i + 16]) }
                var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count))
                addrs.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            i += len
        }
        return Answer(rcode: Int(m[3] & 0x0F), addresses: addrs)
    }

    /// One UDP query for `name` to `server`:53 from inside namespace `ns`.
    static func query(in ns: String, server: String, name: String, type: UInt16 = 1, timeout: TimeInterval = 2) throws -> Answer {
        let id = UInt16.random(in: 1...0xFFFF)
        let q = makeQuery(id: id, name: name, type: type)
        let bytes = try NamespaceThread.run(in: ns, timeout: timeout + 5) {
            try LabDNSExchange.exchange(server: server, query: q, timeout: timeout)
        }
        return try parse(bytes, id: id)
    }

    /// Sends one query every `interval` seconds from inside `ns` until `flag` is stopped (each
    /// answered or not: errors are counted, not thrown). Returns at once; the threads end themselves
    /// (the loop runs on one `NamespaceThread`, which sends nothing unless it got into `ns`).
    static func startQueryLoop(in ns: String, server: String, name: String, interval: TimeInterval, flag: AuditStopFlag) {
        let thread = Thread {
            _ = try? NamespaceThread.run(in: ns, timeout: 24 * 3600) {
                while !flag.isStopped {
                    let id = UInt16.random(in: 1...0xFFFF)
                    if (try? LabDNSExchange.exchange(server: server, query: makeQuery(id: id, name: name), timeout: 1)) != nil { flag.increment() }
                    usleep(useconds_t(interval * 1_000_000))
                }
            }
        }
        thread.start()
    }
}

// MARK: - The lab

/// The shared three-namespace lab (`ResolverLab`, IntegrationSupport), with a scratch directory
/// dnsaudit can write to after it drops to nobody.
final class AuditLab: ResolverLab {
    /// What the rogue answers for every lab.test name but www.
    static let rogueWildcardAnswer = "198.18.77.77"

    let tools: AuditLabTools

    init(tools: AuditLabTools, tag: String) throws {
        self.tools = tools
        try super.init(ip: tools.ip, programs: Programs(ss: tools.ss, nft: tools.nft, unbound: tools.unbound,
                                                        dnsmasq: tools.dnsmasq, openssl: tools.openssl),
                       kind: "audit", interfacePrefix: "a", tag: tag, label: "audit lab", skipSuite: AuditLabTools.suite)
        // dnsaudit may drop to nobody once its capture is open; let it write here.
        chmod(dir.path, 0o1777)
    }

    /// A namespace with nothing but its loopback (for commands that should send nothing at all).
    func buildIsolated() throws -> String {
        let ns = "dnsaudit-audit-\(getpid())-\(tag)-empty"
        try addNamespace(ns, skipSuite: AuditLabTools.suite)
        return ns
    }

    func build() throws {
        try build(extraServiceAddresses: [])
    }

    func startServices(_ pki: AuditLabPKI) throws {
        try startServices(ServiceCertificates(resolverCert: pki.resolverCert, resolverKey: pki.resolverKey,
                                              webCert: pki.webCert, webKey: pki.webKey),
                          rogueWildcardAnswer: Self.rogueWildcardAnswer)
    }
}

/// The lab PKI: "Lab Test Root CA" with certificates for resolver.lab.test (the references) and
/// www.lab.test (the web server).
struct AuditLabPKI {
    var caCert: URL
    var resolverCert: URL, resolverKey: URL
    var webCert: URL, webKey: URL

    static func make(in dir: URL, openssl: String) throws -> AuditLabPKI {
        let pki = OpenSSLTestPKI(dir: dir, openssl: openssl)
        func makeLeaf(_ base: String, name: String) throws {
            try pki.makeServerCertificate(base, ca: "ca", commonName: name, dnsNames: [name])
        }
        try pki.makeCA("ca", subject: "/O=dnsaudit lab/CN=Lab Test Root CA")
        try makeLeaf("resolver", name: AuditLab.resolverTLSName)
        try makeLeaf("web", name: AuditLab.webName)
        // Readable by nobody (dnsaudit live drops privileges; the CA file is public anyway).
        chmod(pki.url("ca.pem").path, 0o644)
        let u = pki.url
        return AuditLabPKI(caCert: u("ca.pem"), resolverCert: u("resolver.pem"), resolverKey: u("resolver.key"),
                           webCert: u("web.pem"), webKey: u("web.key"))
    }
}

// MARK: - Reports

/// One dnsaudit JSON report, parsed.
struct AuditReport {
    var report: [String: Any]

    init(data: Data, what: String) throws {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw LabError("\(what): no parseable JSON (\(error)): \(String(decoding: data.prefix(800), as: UTF8.self))")
        }
        guard let o = parsed as? [String: Any] else { throw LabError("\(what): the report is not a JSON object") }
        report = o
    }

    var findings: [[String: Any]] { report["findings"] as? [[String: Any]] ?? [] }
    var notes: [String] { report["notes"] as? [String] ?? [] }
    var summary: [String: Any] { report["summary"] as? [String: Any] ?? [:] }
    var inputs: [[String: Any]] { report["inputs"] as? [[String: Any]] ?? [] }

    func findings(kind: String) -> [[String: Any]] { findings.filter { $0["kind"] as? String == kind } }

    static let mediumOrAbove: Set<String> = ["medium", "high", "critical"]
    var mediumOrAboveFindings: [[String: Any]] { findings.filter { Self.mediumOrAbove.contains($0["severity"] as? String ?? "") } }

    static func subject(_ f: [String: Any]) -> [String: Any] { f["subject"] as? [String: Any] ?? [:] }

    /// A qname as the report writes it, without a trailing dot, lower case.
    static func qname(_ f: [String: Any]) -> String {
        var q = (subject(f)["qname"] as? String ?? "").lowercased()
        if q.hasSuffix(".") { q.removeLast() }
        return q
    }

    /// What the tool reported, compactly, for failure messages and the log.
    var described: String {
        let lines = DNSAuditReport.findingLines(findings, evidenceLimit: 600)
        return "\(findings.count) finding(s)" + (lines.isEmpty ? "" : ":\n" + lines.joined(separator: "\n"))
            + (notes.isEmpty ? "" : "\n  notes:\n" + notes.map { "    - \($0)" }.joined(separator: "\n"))
    }

    static func json(_ o: Any) -> String { DNSAuditReport.json(o) }
}

/// A python3 that can `import module` (the PATH's first, then the system's), or nil.
func pythonWith(module: String) -> String? {
    for p in AuditLabTools.findAll("python3") {
        if let r = try? runBounded(p, ["-c", "import \(module)"], timeout: 30), r.status == 0 { return p }
    }
    return nil
}

/// Text as it appears in HTML text content: &, < and > escaped; quotes either way.
func htmlNormalizedQuotes(_ html: String) -> String {
    var s = html
    for (entity, char) in [("&quot;", "\""), ("&#34;", "\""), ("&#x22;", "\""), ("&#39;", "'"), ("&#x27;", "'"), ("&apos;", "'")] {
        s = s.replacingOccurrences(of: entity, with: char)
    }
    return s
}

func htmlEscaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}
