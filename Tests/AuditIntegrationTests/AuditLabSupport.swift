import Dispatch
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// Support for the root-only audit lab: tool discovery, bounded process runs, long-running
// processes started with posix_spawn and stopped by PID, the three-namespace topology
// (client — router — services) with unbound (Do53 / DoT / DoH), a rogue dnsmasq and a web
// server, a private PKI made with openssl, a tiny DNS client that runs inside a namespace, and
// the built dnsaudit. This target has no dependencies on purpose: what it needs is copied here
// (from ProbeIntegrationTests and LiveIntegrationTests), with a hand-made DNS encoder instead of
// DNSWire.
//
// Network rule: every packet this lab sends stays in the namespaces it creates. The namespaces
// have no default route and no link to the host; dnsaudit (live, audit, even --print-systemd)
// and the test's own DNS queries run inside them; the servers answer local zones only.

struct AuditLabError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Where the built `dnsaudit` is: next to the test bundle, else `.build/debug` of this package.
enum AuditLabPaths {
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var dnsaudit: URL {
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            return b.bundleURL.deletingLastPathComponent().appendingPathComponent("dnsaudit")
        }
        return root.appendingPathComponent(".build/debug/dnsaudit")
    }
}

/// Absolute paths of the programs the lab needs.
struct AuditLabTools {
    var ip: String
    var ss: String
    var nft: String
    var unbound: String
    var dnsmasq: String
    var openssl: String

    static func find(_ name: String) -> String? { findAll(name).first }

    /// Every executable called `name` on the PATH and in the usual system directories, in order.
    static func findAll(_ name: String) -> [String] {
        var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        dirs += ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        var seen = Set<String>(), out: [String] = []
        for d in dirs where !d.isEmpty {
            let p = d + "/" + name
            if FileManager.default.isExecutableFile(atPath: p), seen.insert(p).inserted { out.append(p) }
        }
        return out
    }

    static func skip(_ reason: String) -> XCTSkip {
        print("AuditIntegrationTests skipped: \(reason)")
        return XCTSkip(reason)
    }

    /// The tools, or an XCTSkip that says what is missing (printed too, so CI logs show it).
    static func require() throws -> AuditLabTools {
        guard geteuid() == 0 else { throw skip("needs root (network namespaces, nftables, live capture)") }
        let wanted = [("ip", "iproute2"), ("ss", "iproute2"), ("nft", "nftables"), ("unbound", "unbound"),
                      ("dnsmasq", "dnsmasq-base"), ("openssl", "openssl")]
        var found: [String: String] = [:]
        var missing: [String] = []
        for (tool, package) in wanted {
            if let p = find(tool) { found[tool] = p } else { missing.append("\(tool) (Debian package \(package))") }
        }
        guard missing.isEmpty else { throw skip("missing: " + missing.joined(separator: ", ")) }
        guard FileManager.default.isExecutableFile(atPath: AuditLabPaths.dnsaudit.path) else {
            throw AuditLabError("\(AuditLabPaths.dnsaudit.path) is not built (swift build --build-tests)")
        }
        return AuditLabTools(ip: found["ip"]!, ss: found["ss"]!, nft: found["nft"]!, unbound: found["unbound"]!,
                             dnsmasq: found["dnsmasq"]!, openssl: found["openssl"]!)
    }
}

// MARK: - Processes

struct AuditRunOutcome {
    var status: Int32
    var stdout: String
    var stdoutData: Data
    var stderr: String
    var timedOut: Bool
    var output: String { stdout + stderr }
}

/// Waits until `done()` is true or `timeout` has passed; returns whether it became true.
func auditLabWait(timeout: TimeInterval, poll: TimeInterval = 0.02, _ done: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if done() { return true }
        if Date() >= deadline { return false }
        usleep(useconds_t(poll * 1_000_000))
    }
}

/// Runs a short program to completion within `timeout` seconds (killed by PID after that), its
/// outputs collected through temporary files. Only for programs that exit by themselves and do
/// not daemonize (ip, nft, ss, openssl, python3); servers go through `AuditLabProcess`.
func auditLabRun(_ exe: String, _ args: [String], timeout: TimeInterval) throws -> AuditRunOutcome {
    let tmp = FileManager.default.temporaryDirectory
    let id = UUID().uuidString
    let outURL = tmp.appendingPathComponent("auditlab-\(id).out"), errURL = tmp.appendingPathComponent("auditlab-\(id).err")
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let p = try AuditLabProcess.spawn(name: (exe as NSString).lastPathComponent, [exe] + args, stdout: outURL, stderr: errURL)
    let finished = auditLabWait(timeout: timeout) { !p.isRunning }
    if !finished { p.stop(signal: SIGKILL) }
    let out = (try? Data(contentsOf: outURL)) ?? Data()
    let err = (try? Data(contentsOf: errURL)) ?? Data()
    return AuditRunOutcome(status: p.exitCode ?? -1, stdout: String(decoding: out, as: UTF8.self), stdoutData: out,
                           stderr: String(decoding: err, as: UTF8.self), timedOut: !finished)
}

/// A process this test started, spawned with posix_spawn and reaped here by its PID (not with
/// Foundation's `Process`: a daemon that closes every inherited descriptor at startup — dnsmasq
/// does — jams Foundation's child tracking, after which no other child's exit is noticed).
final class AuditLabProcess {
    let name: String
    let pid: pid_t
    let stdoutURL: URL
    let stderrURL: URL
    private var waitStatus: Int32?

    private init(name: String, pid: pid_t, stdoutURL: URL, stderrURL: URL) {
        self.name = name
        self.pid = pid
        self.stdoutURL = stdoutURL
        self.stderrURL = stderrURL
    }

    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stdoutData: Data { (try? Data(contentsOf: stdoutURL)) ?? Data() }
    var stderr: String { stdoutURL == stderrURL ? "" : ((try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "") }
    var output: String { stdoutURL == stderrURL ? stdout : stdout + stderr }

    /// Starts `argv` (absolute path first) with stdin from /dev/null, stdout and stderr written
    /// to the given files (the same file: combined), no other descriptor inherited, default signal
    /// handling, an empty signal mask, in its own process group.
    static func spawn(name: String, _ argv: [String], stdout: URL, stderr: URL) throws -> AuditLabProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if stderr == stdout {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderr.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }
        for fd in openDescriptors() where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        var attrs = posix_spawnattr_t()
        posix_spawnattr_init(&attrs)
        defer { posix_spawnattr_destroy(&attrs) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attrs, &empty)
        posix_spawnattr_setsigdefault(&attrs, &defaults)
        posix_spawnattr_setflags(&attrs, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, argv[0], &actions, &attrs, cArgs, environ)
        guard rc == 0 else { throw AuditLabError("cannot start \(argv.joined(separator: " ")): posix_spawn error \(rc)") }
        return AuditLabProcess(name: name, pid: pid, stdoutURL: stdout, stderrURL: stderr)
    }

    private static func openDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        let fds = names.compactMap { Int32($0) }
        return fds.isEmpty ? Array(3..<1024) : fds
    }

    /// Reaps the child if it has exited (never blocks).
    var isRunning: Bool {
        if waitStatus != nil { return false }
        var st: Int32 = 0
        let r = waitpid(pid, &st, WNOHANG)
        if r == pid {
            waitStatus = st
            return false
        }
        if r == -1 && errno == ECHILD {
            waitStatus = -1
            return false
        }
        return true
    }

    /// The exit code, or nil while running, after a signal, or if it could not be known.
    var exitCode: Int32? {
        guard !isRunning, let st = waitStatus, st >= 0, st & 0x7F == 0 else { return nil }
        return (st >> 8) & 0xFF
    }

    /// Waits (bounded) for the process to end by itself; true if it did.
    func waitForExit(timeout: TimeInterval) -> Bool { auditLabWait(timeout: timeout, poll: 0.05) { !isRunning } }

    /// `signal`, then SIGKILL if it has not exited in `grace` s — always by this PID, never by
    /// name. Returns false if it was still running after the SIGKILL grace period.
    @discardableResult
    func stop(signal sig: Int32 = SIGTERM, grace: TimeInterval = 3) -> Bool {
        guard isRunning else { return true }
        kill(pid, sig)
        if auditLabWait(timeout: grace, { !isRunning }) { return true }
        kill(pid, SIGKILL)
        return auditLabWait(timeout: 2, { !isRunning })
    }
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

/// Holds a result computed on another thread; the semaphore that hands it over orders the accesses.
private final class AuditThreadResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

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

/// A tiny DNS client whose socket lives in a lab namespace: a fresh thread joins the namespace
/// with setns(2) (only that thread: network namespaces are per thread), checks that it really
/// is there, asks, and ends. No dig needed; the test's own queries never leave the lab.
enum AuditNamespaceDNS {
    private typealias SetnsFunction = @convention(c) (Int32, Int32) -> Int32
    private static let cloneNewNet: Int32 = 0x4000_0000

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
        guard m.count >= 12 else { throw AuditLabError("DNS answer too short (\(m.count) bytes)") }
        guard UInt16(m[0]) << 8 | UInt16(m[1]) == id else { throw AuditLabError("DNS answer with the wrong id") }
        let qd = Int(m[4]) << 8 | Int(m[5]), an = Int(m[6]) << 8 | Int(m[7])
        var i = 12
        func skipName() throws {
            while true {
                guard i < m.count else { throw AuditLabError("DNS name runs past the end") }
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
            guard i + 10 <= m.count else { throw AuditLabError("DNS record header runs past the end") }
            let type = Int(m[i]) << 8 | Int(m[i + 1])
            let len = Int(m[i + 8]) << 8 | Int(m[i + 9])
            i += 10
            guard i + len <= m.count else { throw AuditLabError("DNS rdata runs past the end") }
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
        let bytes = try onThread(in: ns, timeout: timeout + 5) {
            try exchange(server: server, port: 53, query: q, timeout: timeout)
        }
        return try parse(bytes, id: id)
    }

    /// Sends one query every `interval` seconds from inside `ns` until `flag` is stopped (each
    /// answered or not: errors are counted, not thrown). Returns at once; the thread ends itself.
    static func startQueryLoop(in ns: String, server: String, name: String, interval: TimeInterval, flag: AuditStopFlag) {
        let thread = Thread {
            guard (try? enter(ns)) != nil else { return }
            while !flag.isStopped {
                let id = UInt16.random(in: 1...0xFFFF)
                if (try? exchange(server: server, port: 53, query: makeQuery(id: id, name: name), timeout: 1)) != nil { flag.increment() }
                usleep(useconds_t(interval * 1_000_000))
            }
        }
        thread.start()
    }

    /// Runs `body` on a new thread that has joined network namespace `ns`.
    static func onThread<T>(in ns: String, timeout: TimeInterval, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = AuditThreadResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            do {
                try enter(ns)
                box.result = .success(try body())
            } catch {
                box.result = .failure(error)
            }
        }
        thread.start()
        guard done.wait(timeout: .now() + timeout) == .success else {
            throw AuditLabError("DNS exchange inside \(ns) did not finish in \(timeout) s")
        }
        guard let r = box.result else { throw AuditLabError("DNS exchange inside \(ns): no result") }
        return try r.get()
    }

    private static func enter(_ ns: String) throws {
        let path = "/var/run/netns/" + ns  // iproute2's NETNS_RUN_DIR
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AuditLabError("open \(path): errno \(errno)") }
        defer { close(fd) }
        guard let sym = dlsym(nil, "setns") else { throw AuditLabError("setns is not in the C library") }
        let setns = unsafeBitCast(sym, to: SetnsFunction.self)
        guard setns(fd, cloneNewNet) == 0 else { throw AuditLabError("setns(\(path)): errno \(errno)") }
        // Refuse to send anything unless this thread is now in the lab namespace.
        var want = stat(), have = stat()
        guard stat(path, &want) == 0, stat("/proc/thread-self/ns/net", &have) == 0,
              want.st_ino == have.st_ino, want.st_dev == have.st_dev else {
            throw AuditLabError("this thread did not end up in namespace \(ns)")
        }
    }

    private static func exchange(server: String, port: UInt16, query: [UInt8], timeout: TimeInterval) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw AuditLabError("socket: errno \(errno)") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, server, &addr.sin_addr) == 1 else { throw AuditLabError("not an IPv4 address: \(server)") }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw AuditLabError("connect to \(server):\(port): errno \(errno)") }
        let sent = query.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == query.count else { throw AuditLabError("send to \(server): errno \(errno)") }
        var buf = [UInt8](repeating: 0, count: 65535)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw AuditLabError("no DNS answer from \(server) over UDP within \(timeout) s (errno \(errno))") }
        return Array(buf[..<n])
    }
}

// MARK: - The lab

/// client — router — services, each its own network namespace, joined by two veth pairs:
///   client 198.18.1.1/30 ── 198.18.1.2/30 router 198.18.2.1/30 ── 198.18.2.2/30 services
/// The services namespace carries the service addresses on its loopback: the "public" resolver
/// (unbound: Do53, DoT, DoH) 198.18.10.53, the rogue resolver (dnsmasq) 198.18.20.53, the web
/// server 198.18.50.10. The client routes 198.18.0.0/15 to the router; the router forwards and
/// has /32 routes to the service addresses only. No default route anywhere, IPv6 off.
final class AuditLab {
    static let clientAddress = "198.18.1.1"
    static let routerClientSide = "198.18.1.2"
    static let routerServicesSide = "198.18.2.1"
    static let servicesAddress = "198.18.2.2"
    static let resolverAddress = "198.18.10.53"
    static let rogueAddress = "198.18.20.53"
    static let webAddress = "198.18.50.10"
    /// What the rogue answers for www.lab.test, and for every other name under lab.test.
    static let rogueWebAnswer = "198.18.66.66"
    static let rogueWildcardAnswer = "198.18.77.77"
    static let zone = "lab.test"
    static let webName = "www.lab.test"
    static let resolverTLSName = "resolver.lab.test"
    static let resolverIdentity = "ref-1.lab"

    static var dohReference: String { "https://\(resolverAddress)/dns-query#\(resolverTLSName)" }
    static var dotReference: String { "tls://\(resolverAddress)#\(resolverTLSName)" }

    /// The router answers plain DNS sent to the public resolver with the rogue one.
    static let hijackRules = """
    table ip dnsaudit_lab {
        chain prerouting {
            type nat hook prerouting priority dstnat; policy accept;
            ip daddr \(resolverAddress) udp dport 53 dnat to \(rogueAddress)
            ip daddr \(resolverAddress) tcp dport 53 dnat to \(rogueAddress)
        }
    }

    """

    let tools: AuditLabTools
    let tag: String
    let dir: URL
    let clientNS: String, routerNS: String, servicesNS: String
    let clientIf: String, routerClientIf: String, routerServicesIf: String, servicesIf: String
    private(set) var createdNamespaces: [String] = []
    private(set) var background: [AuditLabProcess] = []
    private var destroyed = false

    init(tools: AuditLabTools, tag: String) throws {
        self.tools = tools
        self.tag = tag
        let pid = getpid()
        clientNS = "dnsaudit-audit-\(pid)-\(tag)-client"
        routerNS = "dnsaudit-audit-\(pid)-\(tag)-router"
        servicesNS = "dnsaudit-audit-\(pid)-\(tag)-services"
        clientIf = "ac\(pid)\(tag)"
        routerClientIf = "arc\(pid)\(tag)"
        routerServicesIf = "ars\(pid)\(tag)"
        servicesIf = "as\(pid)\(tag)"
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-audit-\(pid)-\(tag)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // dnsaudit may drop to nobody once its capture is open; let it write here.
        chmod(dir.path, 0o1777)
    }

    func file(_ name: String) -> URL { dir.appendingPathComponent(name) }

    /// Runs `ip` on the host to manage the lab, failing loudly.
    @discardableResult
    func ipHost(_ args: [String], timeout: TimeInterval = 15) throws -> AuditRunOutcome {
        let r = try auditLabRun(tools.ip, args, timeout: timeout)
        guard r.status == 0, !r.timedOut else {
            throw AuditLabError("ip \(args.joined(separator: " ")) failed (status \(r.status)\(r.timedOut ? ", timed out" : "")): \(r.output)")
        }
        return r
    }

    /// Runs a command inside a namespace within `timeout` seconds; the outcome whatever it is.
    func exec(_ ns: String, _ argv: [String], timeout: TimeInterval = 15) throws -> AuditRunOutcome {
        try auditLabRun(tools.ip, ["netns", "exec", ns] + argv, timeout: timeout)
    }

    /// Runs a command inside a namespace and throws unless it succeeds.
    @discardableResult
    func mustExec(_ ns: String, _ argv: [String], timeout: TimeInterval = 15) throws -> AuditRunOutcome {
        let r = try exec(ns, argv, timeout: timeout)
        guard r.status == 0, !r.timedOut else {
            throw AuditLabError("in \(ns): \(argv.joined(separator: " ")) failed (status \(r.status)\(r.timedOut ? ", timed out" : "")): \(r.output)")
        }
        return r
    }

    func sysctl(_ ns: String, _ key: String, _ value: String) throws {
        let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
        try mustExec(ns, ["/bin/sh", "-c", "echo \(value) > \(path)"])
    }

    private func addNamespace(_ ns: String) throws {
        let added = try auditLabRun(tools.ip, ["netns", "add", ns], timeout: 15)
        if added.status != 0 && createdNamespaces.isEmpty && added.output.contains("Operation not permitted") {
            throw AuditLabTools.skip("cannot create network namespaces here (a container without CAP_SYS_ADMIN?): \(added.output)")
        }
        guard added.status == 0, !added.timedOut else { throw AuditLabError("ip netns add \(ns) failed: \(added.output)") }
        createdNamespaces.append(ns)
        try sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
        try sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
        try ipHost(["-n", ns, "link", "set", "lo", "up"])
    }

    /// A namespace with nothing but its loopback (for commands that should send nothing at all).
    func buildIsolated() throws -> String {
        let ns = "dnsaudit-audit-\(getpid())-\(tag)-empty"
        try addNamespace(ns)
        return ns
    }

    func build() throws {
        for ns in [clientNS, routerNS, servicesNS] { try addNamespace(ns) }
        // Created directly inside the namespaces: never an interface on the host.
        try ipHost(["-n", clientNS, "link", "add", clientIf, "type", "veth", "peer", "name", routerClientIf, "netns", routerNS])
        try ipHost(["-n", routerNS, "link", "add", routerServicesIf, "type", "veth", "peer", "name", servicesIf, "netns", servicesNS])
        try ipHost(["-n", clientNS, "addr", "add", "\(Self.clientAddress)/30", "dev", clientIf])
        try ipHost(["-n", routerNS, "addr", "add", "\(Self.routerClientSide)/30", "dev", routerClientIf])
        try ipHost(["-n", routerNS, "addr", "add", "\(Self.routerServicesSide)/30", "dev", routerServicesIf])
        try ipHost(["-n", servicesNS, "addr", "add", "\(Self.servicesAddress)/30", "dev", servicesIf])
        for (ns, ifname) in [(clientNS, clientIf), (routerNS, routerClientIf), (routerNS, routerServicesIf), (servicesNS, servicesIf)] {
            try ipHost(["-n", ns, "link", "set", ifname, "up"])
        }
        for a in [Self.resolverAddress, Self.rogueAddress, Self.webAddress] {
            try ipHost(["-n", servicesNS, "addr", "add", "\(a)/32", "dev", "lo"])
            try ipHost(["-n", routerNS, "route", "add", "\(a)/32", "via", Self.servicesAddress])
        }
        // Only lab routes, no default route anywhere.
        try ipHost(["-n", clientNS, "route", "add", "198.18.0.0/15", "via", Self.routerClientSide])
        try ipHost(["-n", servicesNS, "route", "add", "198.18.1.0/30", "via", Self.routerServicesSide])
        try sysctl(routerNS, "net.ipv4.ip_forward", "1")
        for ns in [clientNS, routerNS, servicesNS] {
            let routes = try mustExec(ns, [tools.ip, "-4", "route", "show", "default"]).stdout
            guard routes.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw AuditLabError("namespace \(ns) has a default route: \(routes)")
            }
        }
    }

    /// Starts a long-running program inside a namespace (combined output in NAME.log, or stdout
    /// and stderr apart with `separate`); it is stopped by PID in `destroy()`. `ip netns exec`
    /// execs argv: the PID is the program's.
    func spawn(_ ns: String, name: String, _ argv: [String], separate: Bool = false) throws -> AuditLabProcess {
        let out = file(separate ? "\(name).out" : "\(name).log")
        let err = separate ? file("\(name).err") : out
        let b = try AuditLabProcess.spawn(name: name, [tools.ip, "netns", "exec", ns] + argv, stdout: out, stderr: err)
        background.append(b)
        return b
    }

    /// Waits until every `ADDR:PORT` is a listening TCP socket in `ns` (and `p` still runs).
    func waitListening(_ ns: String, _ p: AuditLabProcess, _ sockets: [String], timeout: TimeInterval = 10) throws {
        var last = ""
        let up = auditLabWait(timeout: timeout, poll: 0.05) {
            guard p.isRunning else { return true }
            last = (try? exec(ns, [tools.ss, "-Hltn"], timeout: 5).stdout) ?? ""
            return sockets.allSatisfy { last.contains($0 + " ") }
        }
        guard p.isRunning else { throw AuditLabError("\(p.name) exited: \(p.output)") }
        guard up else { throw AuditLabError("\(p.name) not listening on \(sockets) after \(timeout) s: \(p.output)\nss: \(last)") }
    }

    /// Loads an nftables ruleset into the router.
    func routerRules(_ ruleset: String) throws {
        let f = file("router-\(UUID().uuidString.prefix(6)).nft")
        try ruleset.write(to: f, atomically: true, encoding: .utf8)
        try mustExec(routerNS, [tools.nft, "-f", f.path])
    }

    /// unbound at 198.18.10.53: Do53, DoT (853) and DoH (443, /dns-query) for lab.test only,
    /// identity "ref-1.lab"; the rogue dnsmasq at 198.18.20.53; the web server at 198.18.50.10:443.
    func startServices(_ pki: AuditLabPKI) throws {
        let conf = file("unbound.conf")
        let r = Self.resolverAddress
        try """
        server:
            verbosity: 1
            use-syslog: no
            logfile: ""
            username: ""
            chroot: ""
            directory: "\(dir.path)"
            pidfile: ""
            do-daemonize: no
            num-threads: 1
            do-ip6: no
            interface: \(r)@53
            interface: \(r)@853
            interface: \(r)@443
            tls-port: 853
            https-port: 443
            http-endpoint: "/dns-query"
            tls-service-key: "\(pki.resolverKey.path)"
            tls-service-pem: "\(pki.resolverCert.path)"
            access-control: 198.18.0.0/15 allow
            module-config: "iterator"
            do-not-query-localhost: no
            root-hints: ""
            auto-trust-anchor-file: ""
            identity: "\(Self.resolverIdentity)"
            hide-identity: no
            version: "unbound-\(Self.resolverIdentity)"
            hide-version: no
            nsid: "ascii_\(Self.resolverIdentity)"
            local-zone: "." refuse
            local-zone: "\(Self.zone)." static
            local-data: "\(Self.zone). 300 IN SOA ns.\(Self.zone). admin.\(Self.zone). 1 3600 600 86400 300"
            local-data: "\(Self.webName). 300 IN A \(Self.webAddress)"
            local-data: "\(Self.resolverTLSName). 300 IN A \(r)"
        remote-control:
            control-enable: no
        forward-zone:
            name: "."
            forward-addr: 127.0.0.1@9

        """.write(to: conf, atomically: true, encoding: .utf8)
        let unbound = try spawn(servicesNS, name: "unbound", [tools.unbound, "-d", "-c", conf.path])
        let dnsmasq = try spawn(servicesNS, name: "dnsmasq", [
            tools.dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
            "--bind-interfaces", "--listen-address=\(Self.rogueAddress)", "--port=53", "--pid-file", "--user=root",
            "--log-facility=-", "--address=/\(Self.zone)/\(Self.rogueWildcardAnswer)",
            "--address=/\(Self.webName)/\(Self.rogueWebAnswer)",
        ])
        let web = try spawn(servicesNS, name: "web", [tools.openssl, "s_server", "-4", "-accept", "\(Self.webAddress):443",
                                                     "-cert", pki.webCert.path, "-key", pki.webKey.path, "-www", "-quiet"])
        try waitListening(servicesNS, unbound, ["\(r):53", "\(r):853", "\(r):443"])
        try waitListening(servicesNS, dnsmasq, ["\(Self.rogueAddress):53"])
        try waitListening(servicesNS, web, ["\(Self.webAddress):443"])
    }

    /// Stops every process this lab started (by PID), then deletes its namespaces (and with them
    /// the veths, addresses, routes and nftables rules). Idempotent.
    func destroy() {
        guard !destroyed else { return }
        destroyed = true
        for b in background.reversed() where b.isRunning {
            if !b.stop() { print("audit lab: \(b.name) (pid \(b.pid)) did not exit") }
        }
        for ns in createdNamespaces.reversed() {
            let r = try? auditLabRun(tools.ip, ["netns", "delete", ns], timeout: 15)
            if r?.status != 0 { print("audit lab: could not delete netns \(ns): \(r?.output ?? "?")") }
        }
    }

    func removeFiles() {
        try? FileManager.default.removeItem(at: dir)
    }
}

/// The lab PKI: "Lab Test Root CA" with certificates for resolver.lab.test (the references) and
/// www.lab.test (the web server).
struct AuditLabPKI {
    var caCert: URL
    var resolverCert: URL, resolverKey: URL
    var webCert: URL, webKey: URL

    static func make(in dir: URL, openssl: String) throws -> AuditLabPKI {
        func run(_ args: [String]) throws {
            let r = try auditLabRun(openssl, args, timeout: 30)
            guard r.status == 0, !r.timedOut else { throw AuditLabError("openssl \(args.joined(separator: " ")) failed: \(r.output)") }
        }
        func path(_ n: String) -> String { dir.appendingPathComponent(n).path }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        try run(["req", "-x509"] + ec + ["-sha256", "-days", "7", "-keyout", path("ca.key"), "-out", path("ca.pem"),
                 "-subj", "/O=dnsaudit lab/CN=Lab Test Root CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-addext", "subjectKeyIdentifier=hash"])
        func makeLeaf(_ base: String, name: String) throws {
            let ext = dir.appendingPathComponent("\(base).ext")
            try """
            basicConstraints=critical,CA:FALSE
            keyUsage=critical,digitalSignature
            extendedKeyUsage=serverAuth
            subjectAltName=DNS:\(name)
            subjectKeyIdentifier=hash
            authorityKeyIdentifier=keyid

            """.write(to: ext, atomically: true, encoding: .utf8)
            try run(["req", "-new"] + ec + ["-keyout", path("\(base).key"), "-out", path("\(base).csr"), "-subj", "/CN=\(name)"])
            try run(["x509", "-req", "-sha256", "-days", "7", "-in", path("\(base).csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                     "-set_serial", "0x\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16))",
                     "-extfile", ext.path, "-out", path("\(base).pem")])
        }
        try makeLeaf("resolver", name: AuditLab.resolverTLSName)
        try makeLeaf("web", name: AuditLab.webName)
        // Readable by nobody (dnsaudit live drops privileges; the CA file is public anyway).
        chmod(path("ca.pem"), 0o644)
        let u = { (n: String) in dir.appendingPathComponent(n) }
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
            throw AuditLabError("\(what): no parseable JSON (\(error)): \(String(decoding: data.prefix(800), as: UTF8.self))")
        }
        guard let o = parsed as? [String: Any] else { throw AuditLabError("\(what): the report is not a JSON object") }
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
        let lines = findings.map { f -> String in
            let ev = (f["evidence"] as? [[String: Any]] ?? []).map { $0["detail"] as? String ?? "" }.joined(separator: " | ")
            return "  \(f["kind"] ?? "?") [\(f["severity"] ?? "?")/\(f["confidence"] ?? "?")] subject=\(AuditReport.json(f["subject"] ?? [:])) "
                + "title=\"\(f["title"] ?? "")\" evidence=\"\(ev.prefix(600))\""
        }
        return "\(findings.count) finding(s)" + (lines.isEmpty ? "" : ":\n" + lines.joined(separator: "\n"))
            + (notes.isEmpty ? "" : "\n  notes:\n" + notes.map { "    - \($0)" }.joined(separator: "\n"))
    }

    static func json(_ o: Any) -> String {
        guard JSONSerialization.isValidJSONObject(o), let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else {
            return "\(o)"
        }
        return String(decoding: d, as: UTF8.self)
    }
}

/// A python3 that can `import module` (the PATH's first, then the system's), or nil.
func pythonWith(module: String) -> String? {
    for p in AuditLabTools.findAll("python3") {
        if let r = try? auditLabRun(p, ["-c", "import \(module)"], timeout: 30), r.status == 0 { return p }
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
