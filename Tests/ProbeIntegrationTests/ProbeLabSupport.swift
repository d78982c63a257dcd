import DNSWire
import Dispatch
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// Support for the root-only probe lab: tool discovery, bounded process runs, the three-namespace
// topology (client — router — services), the lab's DNS / DoT / DoH / web servers, a private PKI
// made with openssl, a DNS client that runs inside a namespace, and the built dnsaudit.
//
// Network rule: every packet this lab sends stays in the namespaces it creates. The namespaces
// have no default route and no link to the host; dnsaudit, tcpdump and the test's own DNS
// queries run inside them; the servers answer local zones only and refuse recursion.

struct ProbeLabError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Where the built `dnsaudit` is: next to the test bundle, else `.build/debug` of this package.
enum ProbeLabPaths {
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var dnsaudit: URL {
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            return b.bundleURL.deletingLastPathComponent().appendingPathComponent("dnsaudit")
        }
        return root.appendingPathComponent(".build/debug/dnsaudit")
    }
}

/// Absolute paths of the programs the lab needs.
struct ProbeLabTools {
    var ip: String
    var ss: String
    var nft: String
    var unbound: String
    var dnsmasq: String
    var openssl: String
    var tcpdump: String
    /// Only the hostile-reference test needs it (it is skipped without).
    var python3: String?

    static func find(_ name: String, preferring: [String] = []) -> String? {
        var dirs = preferring
        dirs += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        dirs += ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        for d in dirs where !d.isEmpty {
            let p = d + "/" + name
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static func skip(_ reason: String) -> XCTSkip {
        print("ProbeIntegrationTests skipped: \(reason)")
        return XCTSkip(reason)
    }

    /// The tools, or an XCTSkip that says what is missing (printed too, so CI logs show it).
    static func require() throws -> ProbeLabTools {
        guard geteuid() == 0 else { throw skip("needs root (network namespaces, nftables, tcpdump)") }
        let wanted = [("ip", "iproute2"), ("ss", "iproute2"), ("nft", "nftables"), ("unbound", "unbound"),
                      ("dnsmasq", "dnsmasq-base"), ("openssl", "openssl"), ("tcpdump", "tcpdump")]
        var found: [String: String] = [:]
        var missing: [String] = []
        for (tool, package) in wanted {
            if let p = find(tool) { found[tool] = p } else { missing.append("\(tool) (Debian package \(package))") }
        }
        guard missing.isEmpty else { throw skip("missing: " + missing.joined(separator: ", ")) }
        let dnsaudit = ProbeLabPaths.dnsaudit
        guard FileManager.default.isExecutableFile(atPath: dnsaudit.path) else {
            throw ProbeLabError("\(dnsaudit.path) is not built (swift build --build-tests)")
        }
        return ProbeLabTools(ip: found["ip"]!, ss: found["ss"]!, nft: found["nft"]!, unbound: found["unbound"]!,
                             dnsmasq: found["dnsmasq"]!, openssl: found["openssl"]!, tcpdump: found["tcpdump"]!,
                             python3: find("python3", preferring: ["/usr/bin"]))
    }
}

// MARK: - Processes

struct ProbeRunOutcome {
    var status: Int32
    var stdout: String
    var stdoutData: Data
    var stderr: String
    var timedOut: Bool
    var output: String { stdout + stderr }
}

/// Waits until `done()` is true or `timeout` has passed; returns whether it became true.
func probeLabWait(timeout: TimeInterval, poll: TimeInterval = 0.02, _ done: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if done() { return true }
        if Date() >= deadline { return false }
        usleep(useconds_t(poll * 1_000_000))
    }
}

/// Ends a process this test started, by its PID: `signal`, then SIGKILL if it has not exited in
/// `grace` s. Returns false if it was still running after the SIGKILL grace period.
@discardableResult
func probeLabStop(_ p: Process, signal sig: Int32 = SIGTERM, grace: TimeInterval = 3) -> Bool {
    guard p.isRunning else { return true }
    kill(p.processIdentifier, sig)
    if probeLabWait(timeout: grace, { !p.isRunning }) { return true }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    return probeLabWait(timeout: 2, { !p.isRunning })
}

/// Runs a program to completion within `timeout` seconds (killed by PID after that), with its
/// outputs collected through temporary files (no pipe can fill up and block either side).
func probeLabRun(_ exe: String, _ args: [String], timeout: TimeInterval) throws -> ProbeRunOutcome {
    let tmp = FileManager.default.temporaryDirectory
    let id = UUID().uuidString
    let outURL = tmp.appendingPathComponent("probelab-\(id).out"), errURL = tmp.appendingPathComponent("probelab-\(id).err")
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
        throw ProbeLabError("cannot start \(exe): \(error)")
    }
    let finished = probeLabWait(timeout: timeout) { !p.isRunning }
    if !finished { probeLabStop(p, signal: SIGKILL) }
    if !p.isRunning { p.waitUntilExit() }
    try? outH.close(); try? errH.close()
    let out = (try? Data(contentsOf: outURL)) ?? Data()
    let err = (try? Data(contentsOf: errURL)) ?? Data()
    return ProbeRunOutcome(status: p.isRunning ? -1 : p.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stdoutData: out,
                           stderr: String(decoding: err, as: UTF8.self), timedOut: !finished)
}

/// A long-running process this test started (a server, tcpdump), with its combined output in a
/// file. Spawned with posix_spawn and reaped here by its PID, not with Foundation's `Process`:
/// Foundation notices a child's exit when a socket the child inherited closes, and a daemon that
/// closes every inherited descriptor at startup (dnsmasq does) makes Foundation's process manager
/// wait for it in a blocking waitpid — after which no other child's exit is ever noticed.
final class ProbeLabProcess {
    let name: String
    let pid: pid_t
    let log: URL
    private var waitStatus: Int32?

    private init(name: String, pid: pid_t, log: URL) {
        self.name = name
        self.pid = pid
        self.log = log
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Starts `argv` (absolute path first) with stdin from /dev/null, stdout and stderr appended
    /// to `log`, no other descriptor inherited, default signal handling and an empty signal mask.
    static func spawn(name: String, _ argv: [String], log: URL) throws -> ProbeLabProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Close everything else in the child (glibc ignores a close action on a descriptor that is
        // no longer open).
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
        guard rc == 0 else { throw ProbeLabError("cannot start \(argv.joined(separator: " ")): posix_spawn error \(rc)") }
        return ProbeLabProcess(name: name, pid: pid, log: log)
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

    /// `signal`, then SIGKILL if it has not exited in `grace` s — always by this PID, never by
    /// name. Returns false if it was still running after the SIGKILL grace period.
    @discardableResult
    func stop(signal sig: Int32 = SIGTERM, grace: TimeInterval = 3) -> Bool {
        guard isRunning else { return true }
        kill(pid, sig)
        if probeLabWait(timeout: grace, { !isRunning }) { return true }
        kill(pid, SIGKILL)
        return probeLabWait(timeout: 2, { !isRunning })
    }
}

// MARK: - DNS from inside a namespace

/// Holds a result computed on another thread; the semaphore that hands it over orders the accesses.
private final class ThreadResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// A tiny DNS client whose socket lives in a lab namespace: a fresh thread joins the namespace
/// with setns(2) (only that thread: network namespaces are per thread), checks that it really
/// is there, asks, and ends. No dig needed; the test's own queries never leave the lab.
enum NamespaceDNS {
    private typealias SetnsFunction = @convention(c) (Int32, Int32) -> Int32
    private static let cloneNewNet: Int32 = 0x4000_0000

    struct Answer {
        var message: DNSMessage
        var addresses: [String] {
            message.answers.compactMap { rr -> String? in
                switch rr.rdata {
                case .a(let a): return a.description
                case .aaaa(let a): return a.description
                default: return nil
                }
            }
        }
    }

    /// One query for `name` to `server`:53 over UDP (or TCP), from inside namespace `ns`.
    static func query(in ns: String, server: String, name: String, type: UInt16 = 1, tcp: Bool = false,
                      timeout: TimeInterval = 2) throws -> Answer {
        let id = UInt16.random(in: 1...0xFFFF)
        let q = try DNSQuery.make(id: id, name: name, type: type)
        let bytes = try onThread(in: ns, timeout: timeout + 5) {
            try exchange(server: server, port: 53, query: q, tcp: tcp, timeout: timeout)
        }
        switch DNSMessage.parse(bytes) {
        case .success(let m):
            guard m.id == id else { throw ProbeLabError("DNS answer from \(server) has id \(m.id), asked \(id)") }
            return Answer(message: m)
        case .failure(let e):
            throw ProbeLabError("unparseable DNS answer from \(server) for \(name): \(e)")
        }
    }

    /// Runs `body` on a new thread that has joined network namespace `ns`.
    static func onThread<T>(in ns: String, timeout: TimeInterval, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = ThreadResultBox<T>()
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
            throw ProbeLabError("DNS exchange inside \(ns) did not finish in \(timeout) s")
        }
        guard let r = box.result else { throw ProbeLabError("DNS exchange inside \(ns): no result") }
        return try r.get()
    }

    private static func enter(_ ns: String) throws {
        let path = "/var/run/netns/" + ns  // iproute2's NETNS_RUN_DIR
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ProbeLabError("open \(path): errno \(errno)") }
        defer { close(fd) }
        guard let sym = dlsym(nil, "setns") else { throw ProbeLabError("setns is not in the C library") }
        let setns = unsafeBitCast(sym, to: SetnsFunction.self)
        guard setns(fd, cloneNewNet) == 0 else { throw ProbeLabError("setns(\(path)): errno \(errno)") }
        // Refuse to send anything unless this thread is now in the lab namespace.
        var want = stat(), have = stat()
        guard stat(path, &want) == 0, stat("/proc/thread-self/ns/net", &have) == 0,
              want.st_ino == have.st_ino, want.st_dev == have.st_dev else {
            throw ProbeLabError("this thread did not end up in namespace \(ns)")
        }
    }

    private static func exchange(server: String, port: UInt16, query: [UInt8], tcp: Bool, timeout: TimeInterval) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(tcp ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw ProbeLabError("socket: errno \(errno)") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, server, &addr.sin_addr) == 1 else { throw ProbeLabError("not an IPv4 address: \(server)") }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw ProbeLabError("connect to \(server):\(port)\(tcp ? "/tcp" : ""): errno \(errno)") }
        func sendAll(_ bytes: [UInt8]) throws {
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { throw ProbeLabError("send to \(server): errno \(errno)") }
                off += n
            }
        }
        func readExactly(_ count: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            var off = 0
            while off < count {
                let n = out[off...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { throw ProbeLabError("no DNS answer from \(server) over TCP (errno \(errno))") }
                off += n
            }
            return out
        }
        if tcp {
            try sendAll([UInt8(query.count >> 8), UInt8(query.count & 0xFF)] + query)
            let len = try readExactly(2)
            return try readExactly(Int(len[0]) << 8 | Int(len[1]))
        }
        try sendAll(query)
        var buf = [UInt8](repeating: 0, count: 65535)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw ProbeLabError("no DNS answer from \(server) over UDP within \(timeout) s (errno \(errno))") }
        return Array(buf[..<n])
    }
}

// MARK: - The lab

/// client — router — services, each its own network namespace, joined by two veth pairs:
///   client 198.18.1.1/30 ── 198.18.1.2/30 router 198.18.2.1/30 ── 198.18.2.2/30 services
/// The services namespace carries the service addresses on its loopback: the "public" resolver
/// (unbound: Do53, DoT, DoH) 198.18.10.53, the rogue resolver (dnsmasq) 198.18.20.53, hostile
/// references 198.18.30.53, the web server 198.18.50.10. The client routes 198.18.0.0/15 to the
/// router; the router forwards and has /32 routes to the service addresses only (so the rogue's
/// answer 198.18.66.66 is unreachable at once). No default route anywhere, IPv6 off.
final class ProbeLab {
    static let clientAddress = "198.18.1.1"
    static let routerClientSide = "198.18.1.2"
    static let routerServicesSide = "198.18.2.1"
    static let servicesAddress = "198.18.2.2"
    static let resolverAddress = "198.18.10.53"
    static let rogueAddress = "198.18.20.53"
    static let hostileAddress = "198.18.30.53"
    static let webAddress = "198.18.50.10"
    /// What the rogue answers for www.lab.test, and for every other name under lab.test (a
    /// public-looking address: only data, nothing ever connects to it).
    static let rogueWebAnswer = "198.18.66.66"
    static let rogueWildcardAnswer = "93.184.216.34"
    static let zone = "lab.test"
    static let webName = "www.lab.test"
    static let resolverTLSName = "resolver.lab.test"
    static let resolverIdentity = "ref-1.lab"

    static var dohReference: String { "https://\(resolverAddress)/dns-query#\(resolverTLSName)" }
    static var dotReference: String { "tls://\(resolverAddress)#\(resolverTLSName)" }

    let tools: ProbeLabTools
    let tag: String
    let dir: URL
    let clientNS: String, routerNS: String, servicesNS: String
    let clientIf: String, routerClientIf: String, routerServicesIf: String, servicesIf: String
    private(set) var createdNamespaces: [String] = []
    private(set) var background: [ProbeLabProcess] = []
    private var destroyed = false

    init(tools: ProbeLabTools, tag: String) throws {
        self.tools = tools
        self.tag = tag
        let pid = getpid()
        clientNS = "dnsaudit-probe-\(pid)-\(tag)-client"
        routerNS = "dnsaudit-probe-\(pid)-\(tag)-router"
        servicesNS = "dnsaudit-probe-\(pid)-\(tag)-services"
        clientIf = "pc\(pid)\(tag)"
        routerClientIf = "prc\(pid)\(tag)"
        routerServicesIf = "prs\(pid)\(tag)"
        servicesIf = "ps\(pid)\(tag)"
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-probe-\(pid)-\(tag)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL { dir.appendingPathComponent(name) }

    /// Runs `ip` on the host to manage the lab, failing loudly.
    @discardableResult
    func ipHost(_ args: [String], timeout: TimeInterval = 15) throws -> ProbeRunOutcome {
        let r = try probeLabRun(tools.ip, args, timeout: timeout)
        guard r.status == 0, !r.timedOut else {
            throw ProbeLabError("ip \(args.joined(separator: " ")) failed (status \(r.status)\(r.timedOut ? ", timed out" : "")): \(r.output)")
        }
        return r
    }

    /// Runs a command inside a namespace within `timeout` seconds; the outcome whatever it is.
    func exec(_ ns: String, _ argv: [String], timeout: TimeInterval = 15) throws -> ProbeRunOutcome {
        try probeLabRun(tools.ip, ["netns", "exec", ns] + argv, timeout: timeout)
    }

    /// Runs a command inside a namespace and throws unless it succeeds.
    @discardableResult
    func mustExec(_ ns: String, _ argv: [String], timeout: TimeInterval = 15) throws -> ProbeRunOutcome {
        let r = try exec(ns, argv, timeout: timeout)
        guard r.status == 0, !r.timedOut else {
            throw ProbeLabError("in \(ns): \(argv.joined(separator: " ")) failed (status \(r.status)\(r.timedOut ? ", timed out" : "")): \(r.output)")
        }
        return r
    }

    func sysctl(_ ns: String, _ key: String, _ value: String) throws {
        let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
        try mustExec(ns, ["/bin/sh", "-c", "echo \(value) > \(path)"])
    }

    func build() throws {
        for ns in [clientNS, routerNS, servicesNS] {
            let added = try probeLabRun(tools.ip, ["netns", "add", ns], timeout: 15)
            if added.status != 0 && createdNamespaces.isEmpty && added.output.contains("Operation not permitted") {
                throw ProbeLabTools.skip("cannot create network namespaces here (a container without CAP_SYS_ADMIN?): \(added.output)")
            }
            guard added.status == 0, !added.timedOut else { throw ProbeLabError("ip netns add \(ns) failed: \(added.output)") }
            createdNamespaces.append(ns)
            try sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
            try sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
            try ipHost(["-n", ns, "link", "set", "lo", "up"])
        }
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
        for a in [Self.resolverAddress, Self.rogueAddress, Self.hostileAddress, Self.webAddress] {
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
                throw ProbeLabError("namespace \(ns) has a default route: \(routes)")
            }
        }
    }

    /// Starts a long-running program inside a namespace; it is stopped by PID in `destroy()`.
    func spawn(_ ns: String, name: String, _ argv: [String]) throws -> ProbeLabProcess {
        let log = file("\(name).log")
        // ip netns exec execs argv: the PID is the program's.
        let b = try ProbeLabProcess.spawn(name: name, [tools.ip, "netns", "exec", ns] + argv, log: log)
        background.append(b)
        return b
    }

    /// Waits until every `ADDR:PORT` is a listening TCP socket in `ns` (and `p` still runs).
    func waitListening(_ ns: String, _ p: ProbeLabProcess, _ sockets: [String], timeout: TimeInterval = 10) throws {
        var last = ""
        let up = probeLabWait(timeout: timeout, poll: 0.05) {
            guard p.isRunning else { return true }
            last = (try? exec(ns, [tools.ss, "-Hltn"], timeout: 5).stdout) ?? ""
            return sockets.allSatisfy { last.contains($0 + " ") }
        }
        guard p.isRunning else { throw ProbeLabError("\(p.name) exited: \(p.output)") }
        guard up else { throw ProbeLabError("\(p.name) not listening on \(sockets) after \(timeout) s: \(p.output)\nss: \(last)") }
    }

    /// Loads an nftables ruleset into the router.
    func routerRules(_ ruleset: String) throws {
        let f = file("router-\(UUID().uuidString.prefix(6)).nft")
        try ruleset.write(to: f, atomically: true, encoding: .utf8)
        try mustExec(routerNS, [tools.nft, "-f", f.path])
    }

    func flushRouterRules() throws {
        try mustExec(routerNS, [tools.nft, "flush", "ruleset"])
    }

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

    // MARK: Services

    /// unbound at 198.18.10.53: Do53, DoT (853) and DoH (443, /dns-query) for lab.test only,
    /// identity "ref-1.lab"; the rogue dnsmasq at 198.18.20.53; the web server at 198.18.50.10:443.
    func startServices(_ pki: ProbeLabPKI) throws {
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

    /// `openssl s_server` on the router (198.18.1.2:8443) with a certificate for www.lab.test from
    /// the interception CA, and the DNAT that sends the client's TLS to 198.18.50.10 there.
    func startInterception(_ pki: ProbeLabPKI) throws {
        let s = try spawn(routerNS, name: "interceptor", [tools.openssl, "s_server", "-4", "-accept", "\(Self.routerClientSide):8443",
                                                          "-cert", pki.interceptionCert.path, "-key", pki.interceptionKey.path, "-www", "-quiet"])
        try waitListening(routerNS, s, ["\(Self.routerClientSide):8443"])
        try routerRules("""
        table ip dnsaudit_lab {
            chain prerouting {
                type nat hook prerouting priority dstnat; policy accept;
                ip daddr \(Self.webAddress) tcp dport 443 dnat to \(Self.routerClientSide):8443
            }
        }

        """)
    }

    /// tcpdump on the client's interface, returned once it is really capturing.
    func startCapture(_ file: URL) throws -> ProbeLabProcess {
        let t = try spawn(clientNS, name: "tcpdump-" + file.deletingPathExtension().lastPathComponent,
                          [tools.tcpdump, "-i", clientIf, "-w", file.path, "-U", "--immediate-mode", "-n", "-s", "0", "-Z", "root"])
        let ready = probeLabWait(timeout: 10, poll: 0.05) {
            guard t.isRunning else { return true }
            let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
            return size >= 24 && t.output.contains("listening on")
        }
        guard t.isRunning else { throw ProbeLabError("tcpdump exited: \(t.output)") }
        guard ready else { throw ProbeLabError("tcpdump not capturing after 10 s: \(t.output)") }
        return t
    }

    /// Lets the last packets arrive, then SIGINT (by PID) and a bounded wait for tcpdump to flush.
    func stopCapture(_ t: ProbeLabProcess) throws {
        usleep(300_000)
        guard t.stop(signal: SIGINT, grace: 5) else { throw ProbeLabError("tcpdump (pid \(t.pid)) would not exit") }
        guard t.exitCode == 0 else { throw ProbeLabError("tcpdump ended with status \(t.exitCode.map(String.init) ?? "?"): \(t.output)") }
    }

    /// Stops every process this lab started (by PID), then deletes its namespaces (and with them
    /// the veths, addresses, routes and nftables rules). Idempotent.
    func destroy() {
        guard !destroyed else { return }
        destroyed = true
        for b in background.reversed() where b.isRunning {
            if !b.stop() { print("probe lab: \(b.name) (pid \(b.pid)) did not exit") }
        }
        for ns in createdNamespaces.reversed() {
            let r = try? probeLabRun(tools.ip, ["netns", "delete", ns], timeout: 15)
            if r?.status != 0 { print("probe lab: could not delete netns \(ns): \(r?.output ?? "?")") }
        }
    }

    func removeFiles() {
        try? FileManager.default.removeItem(at: dir)
    }

    // MARK: dnsaudit

    /// The options every probe in this lab uses: the lab resolver, the lab's own references (never
    /// the built-in public ones), the lab CA, lab names, no DNSSEC, short timeouts.
    static func probeArguments(targets: [String], extraReferences: [String] = [], caFile: URL) -> [String] {
        ["probe"] + targets + [
            "--resolver", resolverAddress,
            "--reference", dohReference, "--reference", dotReference,
        ] + extraReferences.flatMap { ["--reference", $0] } + [
            "--ca-file", caFile.path,
            "--check-name", webName, "--canary-zone", zone, "--no-dnssec",
            "--format", "json", "--timeout", "2",
        ]
    }

    /// Runs the built dnsaudit inside the client namespace and parses its JSON report. Refuses
    /// to run a probe or a reference analysis that could fall back to the built-in public defaults.
    func dnsaudit(_ args: [String], timeout: TimeInterval = 60) throws -> ProbeReport {
        if args.first == "probe" {
            guard args.contains("--resolver"), args.contains("--reference"), args.contains("--canary-zone"),
                  args.contains("--check-name"), args.contains("--no-dnssec") else {
                throw ProbeLabError("refusing to run a probe without explicit lab resolver, references and names: \(args)")
            }
        }
        if args.first == "analyze", !args.contains("--reference") {
            throw ProbeLabError("refusing to run analyze without explicit lab references: \(args)")
        }
        let r = try exec(clientNS, [ProbeLabPaths.dnsaudit.path] + args, timeout: timeout)
        let shown = args.joined(separator: " ")
        guard !r.timedOut else { throw ProbeLabError("dnsaudit \(shown) did not finish in \(timeout) s") }
        guard r.status == 0 || r.status == 1 else {
            throw ProbeLabError("dnsaudit \(shown) exited \(r.status): \(r.stderr.prefix(1000)) \(r.stdout.prefix(500))")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: r.stdoutData)
        } catch {
            throw ProbeLabError("dnsaudit \(shown) printed no parseable JSON (\(error)): \(r.stdout.prefix(800)) \(r.stderr.prefix(500))")
        }
        guard let o = parsed as? [String: Any] else { throw ProbeLabError("dnsaudit \(shown): the report is not a JSON object") }
        return ProbeReport(status: r.status, stderr: r.stderr, raw: r.stdout, report: o)
    }
}

/// The lab PKI: "Lab Test Root CA" with certificates for resolver.lab.test (the references),
/// www.lab.test (the web server) and other.lab.test (a DoT server with the wrong name); and an
/// unrelated "Lab Interception CA" with its own certificate for www.lab.test.
struct ProbeLabPKI {
    static let interceptionCAName = "Lab Interception CA"

    var caCert: URL
    var resolverCert: URL, resolverKey: URL
    var webCert: URL, webKey: URL
    var wrongNameCert: URL, wrongNameKey: URL
    var interceptionCACert: URL
    var interceptionCert: URL, interceptionKey: URL

    static func make(in dir: URL, openssl: String) throws -> ProbeLabPKI {
        func run(_ args: [String]) throws {
            let r = try probeLabRun(openssl, args, timeout: 30)
            guard r.status == 0, !r.timedOut else { throw ProbeLabError("openssl \(args.joined(separator: " ")) failed: \(r.output)") }
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
        func makeLeaf(_ base: String, ca: String, name: String) throws {
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
            try run(["x509", "-req", "-sha256", "-days", "7", "-in", path("\(base).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                     "-set_serial", "0x\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16))",
                     "-extfile", ext.path, "-out", path("\(base).pem")])
        }
        try makeCA("ca", subject: "/O=dnsaudit lab/CN=Lab Test Root CA")
        try makeLeaf("resolver", ca: "ca", name: ProbeLab.resolverTLSName)
        try makeLeaf("web", ca: "ca", name: ProbeLab.webName)
        try makeLeaf("wrong-name", ca: "ca", name: "other.lab.test")
        try makeCA("interception-ca", subject: "/O=Lab Interception/CN=\(interceptionCAName)")
        try makeLeaf("interception", ca: "interception-ca", name: ProbeLab.webName)
        let u = { (n: String) in dir.appendingPathComponent(n) }
        return ProbeLabPKI(caCert: u("ca.pem"), resolverCert: u("resolver.pem"), resolverKey: u("resolver.key"),
                           webCert: u("web.pem"), webKey: u("web.key"), wrongNameCert: u("wrong-name.pem"), wrongNameKey: u("wrong-name.key"),
                           interceptionCACert: u("interception-ca.pem"), interceptionCert: u("interception.pem"),
                           interceptionKey: u("interception.key"))
    }
}

/// One `dnsaudit … --format json` run, parsed.
struct ProbeReport {
    var status: Int32
    var stderr: String
    var raw: String
    var report: [String: Any]

    var findings: [[String: Any]] { report["findings"] as? [[String: Any]] ?? [] }
    var notes: [String] { report["notes"] as? [String] ?? [] }

    func findings(kind: String) -> [[String: Any]] { findings.filter { $0["kind"] as? String == kind } }

    static let mediumOrAbove: Set<String> = ["medium", "high", "critical"]
    var mediumOrAboveFindings: [[String: Any]] { findings.filter { Self.mediumOrAbove.contains($0["severity"] as? String ?? "") } }

    static func subject(_ f: [String: Any]) -> [String: Any] { f["subject"] as? [String: Any] ?? [:] }

    /// The whole finding as one string (title, subject, evidence), for "names X" checks.
    static func text(_ f: [String: Any]) -> String { json(f) }

    /// What the tool printed, compactly, for failure messages and the log.
    var described: String {
        let lines = findings.map { f -> String in
            let ev = (f["evidence"] as? [[String: Any]] ?? []).map { $0["detail"] as? String ?? "" }.joined(separator: " | ")
            return "  \(f["kind"] ?? "?") [\(f["severity"] ?? "?")/\(f["confidence"] ?? "?")] subject=\(ProbeReport.json(f["subject"] ?? [:])) "
                + "title=\"\(f["title"] ?? "")\" evidence=\"\(ev)\""
        }
        return "exit \(status); \(findings.count) finding(s)" + (lines.isEmpty ? "" : ":\n" + lines.joined(separator: "\n"))
            + (notes.isEmpty ? "" : "\n  notes:\n" + notes.map { "    - \($0)" }.joined(separator: "\n"))
            + (stderr.isEmpty ? "" : "\n  stderr: \(stderr.prefix(500))")
    }

    static func json(_ o: Any) -> String {
        guard JSONSerialization.isValidJSONObject(o), let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else {
            return "\(o)"
        }
        return String(decoding: d, as: UTF8.self)
    }
}

/// The hostile DoT "references" of the last test, as a python3 script run in the services namespace.
enum HostileReferenceScript {
    static let source = #"""
    # Hostile DoT references for dnsaudit's probe tests. Usage: hostile.py MODE ADDR PORT [CERT KEY]
    #   silent     accepts TCP connections and never sends a byte
    #   garbage    sends bytes that are neither TLS nor DNS, and keeps the connection open
    #   truncated  TLS with a valid certificate; answers the first query with a frame holding a DNS
    #              message cut short inside its question section, the next with a frame that
    #              announces 512 bytes and carries 6; then closes
    #   wrongcert  TLS with a certificate for another name; answers nothing
    import socket, ssl, struct, sys, threading
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ctx = None
    if mode in ("truncated", "wrongcert"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(64)
    print("listening", flush=True)
    held = []

    def read_exact(c, n):
        b = b""
        while len(b) < n:
            x = c.recv(n - len(b))
            if not x:
                return None
            b += x
        return b

    def serve(c):
        try:
            c.settimeout(20)
            if mode == "silent":
                held.append(c)
                return
            if mode == "garbage":
                try:
                    c.recv(4096)
                except Exception:
                    pass
                c.sendall(b"HELLO this is not TLS\r\n\x00\xff\xfe garbage garbage garbage\r\n" * 8)
                held.append(c)
                return
            t = ctx.wrap_socket(c, server_side=True)
            if mode == "wrongcert":
                held.append(t)
                return
            first = True
            while True:
                h = read_exact(t, 2)
                if h is None:
                    break
                q = read_exact(t, struct.unpack("!H", h)[0])
                if q is None:
                    break
                if first:
                    msg = q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + b"\x03ww"
                    t.sendall(struct.pack("!H", len(msg)) + msg)
                    first = False
                else:
                    t.sendall(struct.pack("!H", 512) + q[:2] + b"\x81\x80\x00\x01")
                    break
            t.close()
        except Exception as e:
            print("serve:", e, flush=True)

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

    """#
}
