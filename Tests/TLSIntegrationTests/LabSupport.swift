import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// Support for the root-only TLS lab: tool discovery, bounded process runs, the three-namespace
// topology (client — middlebox — server), a private PKI made with openssl, and the built dnsaudit.
// This target has no dependencies on purpose; the few helpers it needs are copied here.

struct LabError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Where the built `dnsaudit` is: next to the test bundle, else `.build/debug` of this package.
enum LabPaths {
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var dnsaudit: URL {
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            return b.bundleURL.deletingLastPathComponent().appendingPathComponent("dnsaudit")
        }
        return root.appendingPathComponent(".build/debug/dnsaudit")
    }
}

/// Absolute paths of the programs the lab needs.
struct LabTools {
    var ip: String
    var ss: String
    var iptables: String
    var openssl: String
    var tcpdump: String
    var shell: String

    static func find(_ name: String) -> String? {
        var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        dirs += ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        for d in dirs where !d.isEmpty {
            let p = d + "/" + name
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// The tools, or an XCTSkip that says what is missing (printed too, so CI logs show it).
    static func require() throws -> LabTools {
        func skip(_ reason: String) -> XCTSkip {
            print("TLSIntegrationTests skipped: \(reason)")
            return XCTSkip(reason)
        }
        guard geteuid() == 0 else { throw skip("needs root (network namespaces, iptables, tcpdump)") }
        let wanted = [("ip", "iproute2"), ("ss", "iproute2"), ("iptables", "iptables"), ("openssl", "openssl"),
                      ("tcpdump", "tcpdump"), ("sh", "a POSIX shell")]
        var found: [String: String] = [:]
        var missing: [String] = []
        for (tool, package) in wanted {
            if let p = find(tool) { found[tool] = p } else { missing.append("\(tool) (Debian package \(package))") }
        }
        guard missing.isEmpty else { throw skip("missing: " + missing.joined(separator: ", ")) }
        let tools = LabTools(ip: found["ip"]!, ss: found["ss"]!, iptables: found["iptables"]!, openssl: found["openssl"]!,
                             tcpdump: found["tcpdump"]!, shell: found["sh"]!)
        // The userspace half of the string match; the kernel half is checked when the rule goes in.
        let help = try runBounded(tools.iptables, ["-m", "string", "--help"], timeout: 10)
        guard (help.stdout + help.stderr).contains("string match options") else {
            throw skip("iptables has no 'string' match extension: \(help.stderr.prefix(200))")
        }
        return tools
    }
}

struct RunOutcome {
    var status: Int32
    var stdout: String
    var stdoutData: Data
    var stderr: String
    var timedOut: Bool
    var output: String { stdout + stderr }
}

/// Waits until `done()` is true or `timeout` has passed; returns whether it became true.
func waitUntil(timeout: TimeInterval, poll: TimeInterval = 0.02, _ done: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if done() { return true }
        if Date() >= deadline { return false }
        usleep(useconds_t(poll * 1_000_000))
    }
}

/// Ends a process this test started: `signal`, then SIGKILL if it has not exited in `grace` s.
/// Returns false if it was still running after the SIGKILL grace period.
@discardableResult
func stopProcess(_ p: Process, signal sig: Int32 = SIGTERM, grace: TimeInterval = 3) -> Bool {
    guard p.isRunning else { return true }
    kill(p.processIdentifier, sig)
    if waitUntil(timeout: grace, { !p.isRunning }) { return true }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    return waitUntil(timeout: 2, { !p.isRunning })
}

/// Runs a program to completion within `timeout` seconds (killed by PID after that), with its
/// outputs collected through temporary files (no pipe can fill up and block either side).
func runBounded(_ exe: String, _ args: [String], timeout: TimeInterval) throws -> RunOutcome {
    let tmp = FileManager.default.temporaryDirectory
    let id = UUID().uuidString
    let outURL = tmp.appendingPathComponent("tlslab-\(id).out"), errURL = tmp.appendingPathComponent("tlslab-\(id).err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let outH = try FileHandle(forWritingTo: outURL), errH = try FileHandle(forWritingTo: errURL)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = outH
    p.standardError = errH
    do { try p.run() } catch {
        try? outH.close(); try? errH.close()
        throw LabError("cannot start \(exe): \(error)")
    }
    let finished = waitUntil(timeout: timeout) { !p.isRunning }
    if !finished { stopProcess(p, signal: SIGKILL) }
    if !p.isRunning { p.waitUntilExit() }
    try? outH.close(); try? errH.close()
    let out = (try? Data(contentsOf: outURL)) ?? Data()
    let err = (try? Data(contentsOf: errURL)) ?? Data()
    return RunOutcome(status: p.isRunning ? -1 : p.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stdoutData: out,
                      stderr: String(decoding: err, as: UTF8.self), timedOut: !finished)
}

/// A long-running process this test started (TLS server, tcpdump), with its combined output in a file.
final class BackgroundProcess {
    let name: String
    let process: Process
    let log: URL

    init(name: String, process: Process, log: URL) {
        self.name = name
        self.process = process
        self.log = log
    }

    var pid: Int32 { process.processIdentifier }
    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
}

/// client — middlebox — server, each its own network namespace, joined by two veth pairs:
///   client  198.18.1.1/30 ── 198.18.1.2/30  middlebox  198.18.2.1/30 ── 198.18.2.2/30  server
/// (198.18.0.0/15 is the benchmarking range; the host uses 192.0.2.0/24 and fd00::/64). The client
/// and the server only have a route to each other's /30 through the middlebox, which forwards;
/// no namespace has a default route, IPv6 is off, so nothing can leave the lab.
final class Lab {
    static let clientAddress = "198.18.1.1"
    static let middleboxClientSide = "198.18.1.2"
    static let middleboxServerSide = "198.18.2.1"
    static let serverAddress = "198.18.2.2"

    let tools: LabTools
    let tag: String
    let dir: URL
    let clientNS: String, middleboxNS: String, serverNS: String
    /// Interface names (≤ 15 bytes): the client's, the middlebox's two, the server's.
    let clientIf: String, middleboxClientIf: String, middleboxServerIf: String, serverIf: String
    private(set) var createdNamespaces: [String] = []
    private(set) var background: [BackgroundProcess] = []
    private var destroyed = false

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
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-tls-\(pid)-\(tag)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    /// Runs a command on the host (only `ip` to manage the lab), failing loudly.
    @discardableResult
    func host(_ exe: String, _ args: [String], timeout: TimeInterval = 15) throws -> RunOutcome {
        let r = try runBounded(exe, args, timeout: timeout)
        guard r.status == 0, !r.timedOut else {
            throw LabError("\(([exe] + args).joined(separator: " ")) failed (status \(r.status)\(r.timedOut ? ", timed out" : "")): \(r.output)")
        }
        return r
    }

    /// Runs a command inside a namespace within `timeout` seconds; the outcome whatever it is.
    func exec(_ ns: String, _ argv: [String], timeout: TimeInterval = 15) throws -> RunOutcome {
        try runBounded(tools.ip, ["netns", "exec", ns] + argv, timeout: timeout)
    }

    /// Runs a command inside a namespace and throws unless it succeeds.
    @discardableResult
    func mustExec(_ ns: String, _ argv: [String], timeout: TimeInterval = 15) throws -> RunOutcome {
        let r = try exec(ns, argv, timeout: timeout)
        guard r.status == 0, !r.timedOut else {
            throw LabError("in \(ns): \(argv.joined(separator: " ")) failed (status \(r.status)\(r.timedOut ? ", timed out" : "")): \(r.output)")
        }
        return r
    }

    func sysctl(_ ns: String, _ key: String, _ value: String) throws {
        let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
        try mustExec(ns, [tools.shell, "-c", "echo \(value) > \(path)"])
    }

    func build() throws {
        for ns in [clientNS, middleboxNS, serverNS] {
            try host(tools.ip, ["netns", "add", ns])
            createdNamespaces.append(ns)
            // No IPv6 at all (no router solicitations, nothing to route anywhere).
            try sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
            try sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
            try host(tools.ip, ["-n", ns, "link", "set", "lo", "up"])
        }
        // Created directly inside the namespaces: never an interface on the host.
        try host(tools.ip, ["-n", clientNS, "link", "add", clientIf, "type", "veth", "peer", "name", middleboxClientIf, "netns", middleboxNS])
        try host(tools.ip, ["-n", middleboxNS, "link", "add", middleboxServerIf, "type", "veth", "peer", "name", serverIf, "netns", serverNS])
        try host(tools.ip, ["-n", clientNS, "addr", "add", "\(Lab.clientAddress)/30", "dev", clientIf])
        try host(tools.ip, ["-n", middleboxNS, "addr", "add", "\(Lab.middleboxClientSide)/30", "dev", middleboxClientIf])
        try host(tools.ip, ["-n", middleboxNS, "addr", "add", "\(Lab.middleboxServerSide)/30", "dev", middleboxServerIf])
        try host(tools.ip, ["-n", serverNS, "addr", "add", "\(Lab.serverAddress)/30", "dev", serverIf])
        try host(tools.ip, ["-n", clientNS, "link", "set", clientIf, "up"])
        try host(tools.ip, ["-n", middleboxNS, "link", "set", middleboxClientIf, "up"])
        try host(tools.ip, ["-n", middleboxNS, "link", "set", middleboxServerIf, "up"])
        try host(tools.ip, ["-n", serverNS, "link", "set", serverIf, "up"])
        // Only the two lab /30s, only through the middlebox. No default route anywhere.
        try host(tools.ip, ["-n", clientNS, "route", "add", "198.18.2.0/30", "via", Lab.middleboxClientSide])
        try host(tools.ip, ["-n", serverNS, "route", "add", "198.18.1.0/30", "via", Lab.middleboxServerSide])
        try sysctl(middleboxNS, "net.ipv4.ip_forward", "1")
    }

    /// Starts a long-running program inside a namespace; it is stopped by PID in `destroy()`.
    func spawn(_ ns: String, name: String, _ argv: [String]) throws -> BackgroundProcess {
        let log = dir.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let h = try FileHandle(forWritingTo: log)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tools.ip)
        p.arguments = ["netns", "exec", ns] + argv  // ip netns exec execs argv: the PID is the program's
        p.currentDirectoryURL = dir
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = h
        p.standardError = h
        try p.run()
        try? h.close()
        let b = BackgroundProcess(name: name, process: p, log: log)
        background.append(b)
        return b
    }

    /// `openssl s_server` answering on `port` with `cert`/`key`, once its socket is listening.
    func startTLSServer(_ ns: String, name: String, port: Int, cert: URL, key: URL) throws -> BackgroundProcess {
        let s = try spawn(ns, name: name, [tools.openssl, "s_server", "-4", "-accept", String(port), "-cert", cert.path,
                                           "-key", key.path, "-www", "-quiet"])
        var last = ""
        let up = waitUntil(timeout: 10, poll: 0.05) {
            guard s.process.isRunning else { return true }
            last = (try? exec(ns, [tools.ss, "-Hltn", "sport = :\(port)"], timeout: 5).stdout) ?? ""
            return !last.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        }
        guard s.process.isRunning else { throw LabError("\(name) exited: \(s.output)") }
        guard up else { throw LabError("\(name) not listening on \(port) after 10 s: \(s.output)") }
        return s
    }

    /// tcpdump on the client's interface, returned once it is really capturing.
    func startCapture(_ file: URL) throws -> BackgroundProcess {
        let t = try spawn(clientNS, name: "tcpdump-" + file.deletingPathExtension().lastPathComponent,
                          [tools.tcpdump, "-i", clientIf, "-w", file.path, "-U", "--immediate-mode", "-n", "-s", "0", "-Z", "root"])
        let ready = waitUntil(timeout: 10, poll: 0.05) {
            guard t.process.isRunning else { return true }
            let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
            return size >= 24 && t.output.contains("listening on")
        }
        guard t.process.isRunning else { throw LabError("tcpdump exited: \(t.output)") }
        guard ready else { throw LabError("tcpdump not capturing after 10 s: \(t.output)") }
        return t
    }

    /// Lets the last packets arrive, then SIGINT and a bounded wait for tcpdump to flush and exit.
    func stopCapture(_ t: BackgroundProcess) throws {
        usleep(300_000)
        guard stopProcess(t.process, signal: SIGINT, grace: 5) else { throw LabError("tcpdump (pid \(t.pid)) would not exit") }
        t.process.waitUntilExit()
        guard t.process.terminationStatus == 0 else { throw LabError("tcpdump ended with \(t.process.terminationStatus): \(t.output)") }
    }

    /// `openssl s_client` from the client namespace, bounded.
    func tlsConnect(sni: String, caFile: URL, extra: [String] = [], timeout: TimeInterval = 10) throws -> RunOutcome {
        try exec(clientNS, [tools.openssl, "s_client", "-4", "-connect", "\(Lab.serverAddress):443", "-servername", sni,
                            "-CAfile", caFile.path] + extra, timeout: timeout)
    }

    /// Stops every process this lab started (by PID), then deletes its namespaces (and with them
    /// the veths, addresses, routes and iptables rules). Idempotent.
    func destroy() {
        guard !destroyed else { return }
        destroyed = true
        for b in background.reversed() where b.process.isRunning {
            if !stopProcess(b.process) { print("TLS lab: \(b.name) (pid \(b.pid)) did not exit") }
        }
        for ns in createdNamespaces.reversed() {
            let r = try? runBounded(tools.ip, ["netns", "delete", ns], timeout: 15)
            if r?.status != 0 { print("TLS lab: could not delete netns \(ns): \(r?.output ?? "?")") }
        }
    }

    func removeFiles() {
        try? FileManager.default.removeItem(at: dir)
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
        func run(_ args: [String]) throws {
            let r = try runBounded(openssl, args, timeout: 30)
            guard r.status == 0, !r.timedOut else { throw LabError("openssl \(args.joined(separator: " ")) failed: \(r.output)") }
        }
        func path(_ n: String) -> String { dir.appendingPathComponent(n).path }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        func makeCA(_ base: String, subject: String) throws {
            try run(["req", "-x509"] + ec + ["-sha256", "-days", "7", "-keyout", path("\(base).key"), "-out", path("\(base).pem"),
                     "-subj", subject,
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                     "-addext", "subjectKeyIdentifier=hash"])
        }
        let ext = dir.appendingPathComponent("server.ext")
        try """
        basicConstraints=critical,CA:FALSE
        keyUsage=critical,digitalSignature
        extendedKeyUsage=serverAuth
        subjectAltName=DNS:ok.lab.test,DNS:blocked.lab.test
        subjectKeyIdentifier=hash
        authorityKeyIdentifier=keyid

        """.write(to: ext, atomically: true, encoding: .utf8)
        func makeLeaf(_ base: String, ca: String) throws {
            try run(["req", "-new"] + ec + ["-keyout", path("\(base).key"), "-out", path("\(base).csr"), "-subj", "/CN=ok.lab.test"])
            try run(["x509", "-req", "-sha256", "-days", "7", "-in", path("\(base).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                     "-set_serial", "0x\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16))",
                     "-extfile", ext.path, "-out", path("\(base).pem")])
        }
        try makeCA("ca", subject: "/O=dnsaudit lab/CN=Lab Test Root CA")
        try makeLeaf("server", ca: "ca")
        try makeCA("interception-ca", subject: "/O=Lab Interception/CN=\(interceptionCAName)")
        try makeLeaf("interception", ca: "interception-ca")
        let u = { (n: String) in dir.appendingPathComponent(n) }
        return LabPKI(caCert: u("ca.pem"), serverCert: u("server.pem"), serverKey: u("server.key"),
                      interceptionCACert: u("interception-ca.pem"), interceptionCert: u("interception.pem"),
                      interceptionKey: u("interception.key"))
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
        let lines = findings.map { f -> String in
            let ev = (f["evidence"] as? [[String: Any]] ?? []).map { $0["detail"] as? String ?? "" }.joined(separator: " | ")
            return "  \(f["kind"] ?? "?") [\(f["severity"] ?? "?")/\(f["confidence"] ?? "?")] subject=\(AnalyzeReport.json(f["subject"] ?? [:])) "
                + "title=\"\(f["title"] ?? "")\" evidence=\"\(ev)\""
        }
        let counts = ["packets", "tls_client_hellos"].map { "\($0)=\(summary[$0] ?? "?")" }.joined(separator: " ")
        return "exit \(status); \(counts); \(findings.count) finding(s)" + (lines.isEmpty ? "" : ":\n" + lines.joined(separator: "\n"))
            + (stderr.isEmpty ? "" : "\n  stderr: \(stderr.prefix(500))")
    }

    static func json(_ o: Any) -> String {
        guard JSONSerialization.isValidJSONObject(o), let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else {
            return "\(o)"
        }
        return String(decoding: d, as: UTF8.self)
    }

    static func run(_ capture: URL, extra: [String] = []) throws -> AnalyzeReport {
        let exe = LabPaths.dnsaudit
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
