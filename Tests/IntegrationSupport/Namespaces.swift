import Dispatch
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The network namespaces one test builds, the programs it starts inside them, and their teardown.
/// Subclasses (the TLS, probe and live labs) name the namespaces and lay out their topology with
/// these steps; every namespace is created empty, with IPv6 off and only `lo` up, and interfaces
/// are created directly inside the namespaces, never on the host.
///
/// Network rule: a lab adds no default route and no link to the host, so nothing it sends can
/// leave the namespaces it created. `destroy()` stops (by PID) what it started and deletes them.
open class NamespaceLab {
    /// Absolute path of `ip` (iproute2).
    public let ip: String
    /// The shell `sysctl` runs `echo` with.
    public let shell: String
    /// This lab's scratch directory (logs, configs, captures, certificates).
    public let dir: URL
    /// How this lab is named in printed messages ("TLS lab", "probe lab").
    public let label: String
    public private(set) var createdNamespaces: [String] = []
    public private(set) var background: [SpawnedProcess] = []
    private var destroyed = false

    /// Creates the scratch directory `<tmp>/<dirPrefix>-<8 hex>`; no namespace yet.
    public init(ip: String, shell: String = "/bin/sh", label: String, dirPrefix: String) throws {
        self.ip = ip
        self.shell = shell
        self.label = label
        dir = try TempDirs.make(prefix: dirPrefix)
    }

    public func file(_ name: String) -> URL { dir.appendingPathComponent(name) }

    // MARK: Commands

    /// Runs `ip ARGS` on the host (only to manage the lab), throwing unless it succeeds.
    @discardableResult
    public func host(_ args: [String], timeout: TimeInterval = 15) throws -> RunOutcome {
        let r = try runBounded(ip, args, timeout: timeout)
        guard r.status == 0, !r.timedOut else {
            throw LabError("ip \(args.joined(separator: " ")) failed (status \(r.status)\(r.timedOut ? ", timed out" : "")): \(r.output)")
        }
        return r
    }

    /// Runs a command inside a namespace within `timeout` seconds; the outcome whatever it is.
    public func exec(_ ns: String, _ argv: [String], timeout: TimeInterval = 15) throws -> RunOutcome {
        try runBounded(ip, ["netns", "exec", ns] + argv, timeout: timeout)
    }

    /// Runs a command inside a namespace and throws unless it succeeds.
    @discardableResult
    public func mustExec(_ ns: String, _ argv: [String], timeout: TimeInterval = 15) throws -> RunOutcome {
        let r = try exec(ns, argv, timeout: timeout)
        guard r.status == 0, !r.timedOut else {
            throw LabError("in \(ns): \(argv.joined(separator: " ")) failed (status \(r.status)\(r.timedOut ? ", timed out" : "")): \(r.output)")
        }
        return r
    }

    /// Sets `key` (dotted, e.g. net.ipv4.ip_forward) to `value` inside `ns`.
    public func sysctl(_ ns: String, _ key: String, _ value: String) throws {
        let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
        try mustExec(ns, [shell, "-c", "echo \(value) > \(path)"])
    }

    // MARK: Topology

    /// `ip netns add ns`, remembered for `destroy()`; then IPv6 off (no router solicitations,
    /// nothing to route anywhere) and `lo` up. With `skipSuite`, a first namespace that cannot be
    /// created for lack of privilege (a container without CAP_SYS_ADMIN) skips the test instead.
    public func addNamespace(_ ns: String, skipSuite: String? = nil) throws {
        let added = try runBounded(ip, ["netns", "add", ns], timeout: 15)
        if let skipSuite, added.status != 0, createdNamespaces.isEmpty, added.output.contains("Operation not permitted") {
            throw Requirements.skip(skipSuite, "cannot create network namespaces here (a container without CAP_SYS_ADMIN?): \(added.output)")
        }
        guard added.status == 0, !added.timedOut else { throw LabError("ip netns add \(ns) failed: \(added.output)") }
        createdNamespaces.append(ns)
        try sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
        try sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
        try host(["-n", ns, "link", "set", "lo", "up"])
    }

    /// A veth pair created inside `ns`, its peer moved straight into `peerNS` (names ≤ 15 bytes).
    public func addVeth(_ ifname: String, in ns: String, peer: String, in peerNS: String) throws {
        try host(["-n", ns, "link", "add", ifname, "type", "veth", "peer", "name", peer, "netns", peerNS])
    }

    /// `ip -n ns addr add cidr dev ifname`.
    public func addAddress(_ cidr: String, dev ifname: String, in ns: String) throws {
        try host(["-n", ns, "addr", "add", cidr, "dev", ifname])
    }

    /// `ip -n ns link set ifname up`.
    public func linkUp(_ ifname: String, in ns: String) throws {
        try host(["-n", ns, "link", "set", ifname, "up"])
    }

    /// Joins two namespaces with a veth pair (`ifname` in `ns`, `peer` in `peerNS`), gives each
    /// end its address (a CIDR) and brings both up.
    public func addLink(_ ifname: String, in ns: String, address: String,
                        peer: String, in peerNS: String, peerAddress: String) throws {
        try addVeth(ifname, in: ns, peer: peer, in: peerNS)
        try addAddress(address, dev: ifname, in: ns)
        try addAddress(peerAddress, dev: peer, in: peerNS)
        try linkUp(ifname, in: ns)
        try linkUp(peer, in: peerNS)
    }

    /// `ip -n ns route add prefix via gateway` (only lab prefixes: never a default route).
    public func addRoute(_ prefix: String, via gateway: String, in ns: String) throws {
        try host(["-n", ns, "route", "add", prefix, "via", gateway])
    }

    // MARK: Programs

    /// Starts a long-running program inside a namespace, in this lab's directory; it is stopped by
    /// PID in `destroy()`. Its output goes to `<name>.log`, or with `separateOutputs` to
    /// `<name>.out` and `<name>.err`. (`ip netns exec` execs argv: the PID is the program's.)
    public func spawn(_ ns: String, name: String, _ argv: [String], separateOutputs: Bool = false) throws -> SpawnedProcess {
        let out = file(separateOutputs ? "\(name).out" : "\(name).log")
        let err = separateOutputs ? file("\(name).err") : out
        let b = try SpawnedProcess.spawn(name: name, [ip, "netns", "exec", ns] + argv, stdout: out, stderr: err, workingDirectory: dir)
        background.append(b)
        return b
    }

    /// Waits until every `ADDR:PORT` is a listening TCP socket in `ns` (and `p` still runs),
    /// asking `ss` (iproute2).
    public func waitListening(_ ns: String, _ p: SpawnedProcess, _ sockets: [String], ss: String, timeout: TimeInterval = 10) throws {
        var last = ""
        let up = waitUntil(timeout: timeout, poll: 0.05) {
            guard p.isRunning else { return true }
            last = (try? exec(ns, [ss, "-Hltn"], timeout: 5).stdout) ?? ""
            return sockets.allSatisfy { last.contains($0 + " ") }
        }
        guard p.isRunning else { throw LabError("\(p.name) exited: \(p.output)") }
        guard up else { throw LabError("\(p.name) not listening on \(sockets) after \(timeout) s: \(p.output)\nss: \(last)") }
    }

    /// tcpdump on `ifname` inside `ns`, writing `file`, returned once it is really capturing.
    public func startCapture(_ file: URL, in ns: String, interface ifname: String, tcpdump: String) throws -> SpawnedProcess {
        let t = try spawn(ns, name: "tcpdump-" + file.deletingPathExtension().lastPathComponent,
                          [tcpdump, "-i", ifname, "-w", file.path, "-U", "--immediate-mode", "-n", "-s", "0", "-Z", "root"])
        let ready = waitUntil(timeout: 10, poll: 0.05) {
            guard t.isRunning else { return true }
            let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
            return size >= 24 && t.output.contains("listening on")
        }
        guard t.isRunning else { throw LabError("tcpdump exited: \(t.output)") }
        guard ready else { throw LabError("tcpdump not capturing after 10 s: \(t.output)") }
        return t
    }

    /// Lets the last packets arrive, then SIGINT (by PID) and a bounded wait for tcpdump to flush.
    public func stopCapture(_ t: SpawnedProcess) throws {
        usleep(300_000)
        guard t.stop(signal: SIGINT, grace: 5) else { throw LabError("tcpdump (pid \(t.pid)) would not exit") }
        guard t.exitCode == 0 else { throw LabError("tcpdump ended with status \(t.exitCode.map(String.init) ?? "?"): \(t.output)") }
    }

    // MARK: Teardown

    /// Stops every process this lab started (by PID), then deletes its namespaces (and with them
    /// the veths, addresses, routes and firewall rules). Idempotent.
    open func destroy() {
        guard !destroyed else { return }
        destroyed = true
        for b in background.reversed() where b.isRunning {
            if !b.stop() { print("\(label): \(b.name) (pid \(b.pid)) did not exit") }
        }
        for ns in createdNamespaces.reversed() {
            let r = try? runBounded(ip, ["netns", "delete", ns], timeout: 15)
            if r?.status != 0 { print("\(label): could not delete netns \(ns): \(r?.output ?? "?")") }
        }
    }

    /// Removes the scratch directory (call after `destroy()`, when nothing needs inspecting).
    public func removeFiles() {
        try? FileManager.default.removeItem(at: dir)
    }

    /// For a test's tearDown: `destroy()`, then the scratch directory is removed if `testRun`
    /// passed, or kept for inspection (and `keptMessage` printed) if it failed.
    public func finish(after testRun: XCTestRun?, keptMessage: @autoclosure () -> String) {
        destroy()
        let failed = (testRun?.failureCount ?? 0) + (testRun?.unexpectedExceptionCount ?? 0) > 0
        if failed {
            print(keptMessage())
        } else {
            removeFiles()
        }
    }
}

// MARK: - One thread inside a namespace

/// Holds a result computed on another thread; the semaphore that hands it over orders the accesses.
private final class ThreadResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Runs code with this process's sockets inside a lab namespace, without `ip netns exec`: a fresh
/// thread joins the namespace with setns(2) (network namespaces are per thread), checks that it
/// really is there, runs the code and ends.
public enum NamespaceThread {
    private typealias SetnsFunction = @convention(c) (Int32, Int32) -> Int32
    private static let cloneNewNet: Int32 = 0x4000_0000

    /// Runs `body` on a new thread that has joined network namespace `ns` (created by `ip netns
    /// add`); throws if it did not finish within `timeout` s.
    public static func run<T>(in ns: String, timeout: TimeInterval, _ body: @escaping @Sendable () throws -> T) throws -> T {
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
            throw LabError("the thread inside \(ns) did not finish in \(timeout) s")
        }
        guard let r = box.result else { throw LabError("the thread inside \(ns) gave no result") }
        return try r.get()
    }

    /// Moves the calling thread into namespace `ns`, and refuses (throws) unless it is there now.
    private static func enter(_ ns: String) throws {
        let path = "/var/run/netns/" + ns  // iproute2's NETNS_RUN_DIR
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LabError("open \(path): errno \(errno)") }
        defer { close(fd) }
        guard let sym = dlsym(nil, "setns") else { throw LabError("setns is not in the C library") }
        let setns = unsafeBitCast(sym, to: SetnsFunction.self)
        guard setns(fd, cloneNewNet) == 0 else { throw LabError("setns(\(path)): errno \(errno)") }
        // Refuse to send anything unless this thread is now in the lab namespace.
        var want = stat(), have = stat()
        guard stat(path, &want) == 0, stat("/proc/thread-self/ns/net", &have) == 0,
              want.st_ino == have.st_ino, want.st_dev == have.st_dev else {
            throw LabError("this thread did not end up in namespace \(ns)")
        }
    }
}
