import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// Support for the root-only live-capture lab: two network namespaces joined by a veth pair, a tiny
// Python DNS responder in one, the built dnsaudit capturing in the other. This target has no
// dependencies on purpose; the few helpers it needs are copied here (from EndToEndTests and
// TLSIntegrationTests).

struct LiveLabError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

enum LivePaths {
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The built `dnsaudit` next to the test bundle, else `.build/debug` of this package.
    static var dnsaudit: URL {
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            return b.bundleURL.deletingLastPathComponent().appendingPathComponent("dnsaudit")
        }
        return root.appendingPathComponent(".build/debug/dnsaudit")
    }
}

func findTool(_ name: String) -> String? {
    var dirs = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    dirs += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    for d in dirs where !d.isEmpty {
        let p = d + "/" + name
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
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
@discardableResult
func stopProcess(_ p: Process, signal sig: Int32 = SIGTERM, grace: TimeInterval = 3) -> Bool {
    guard p.isRunning else { return true }
    kill(p.processIdentifier, sig)
    if waitUntil(timeout: grace, { !p.isRunning }) { return true }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    return waitUntil(timeout: 2, { !p.isRunning })
}

/// Runs a program to completion within `timeout` seconds (killed by PID after that), its outputs
/// collected through temporary files so no pipe can fill up.
func runBounded(_ exe: String, _ args: [String], timeout: TimeInterval) throws -> RunOutcome {
    let tmp = FileManager.default.temporaryDirectory
    let id = UUID().uuidString
    let outURL = tmp.appendingPathComponent("livelab-\(id).out"), errURL = tmp.appendingPathComponent("livelab-\(id).err")
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
        throw LiveLabError("cannot start \(exe): \(error)")
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

/// A long-running process this test started, with stdout and stderr in files.
final class BackgroundProcess {
    let name: String
    let process: Process
    let stdoutURL: URL
    let stderrURL: URL

    init(name: String, process: Process, stdoutURL: URL, stderrURL: URL) {
        self.name = name
        self.process = process
        self.stdoutURL = stdoutURL
        self.stderrURL = stderrURL
    }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }
}

/// client ── server, two network namespaces joined by one veth pair:
///   client 198.18.20.1/30 ── 198.18.20.2/30 server
/// (198.18.0.0/15, the benchmarking range; the host uses 192.0.2.0/24). No default routes, IPv6
/// off: nothing can leave the lab. Names carry the test process's PID.
final class LiveLab {
    static let clientAddress = "198.18.20.1"
    static let serverAddress = "198.18.20.2"

    let ip: String
    let python: String
    let tag: String
    let dir: URL
    let clientNS: String, serverNS: String
    let clientIf: String, serverIf: String
    private(set) var createdNamespaces: [String] = []
    private(set) var background: [BackgroundProcess] = []
    private var destroyed = false

    /// The tools, or an XCTSkip that says why (printed too, so CI logs show it).
    static func requirements() throws -> (ip: String, python: String) {
        func skip(_ reason: String) -> XCTSkip {
            print("LiveIntegrationTests skipped: \(reason)")
            return XCTSkip(reason)
        }
        guard geteuid() == 0 else { throw skip("needs root (network namespaces, live capture)") }
        guard let ip = findTool("ip") else { throw skip("'ip' (iproute2) is not installed") }
        guard let python = findTool("python3") else { throw skip("python3 is not installed (the lab's DNS responder)") }
        guard FileManager.default.isExecutableFile(atPath: LivePaths.dnsaudit.path) else {
            throw skip("\(LivePaths.dnsaudit.path) is not built (swift build --build-tests)")
        }
        return (ip, python)
    }

    init(tag: String) throws {
        let req = try LiveLab.requirements()
        ip = req.ip
        python = req.python
        self.tag = tag
        let pid = getpid()
        clientNS = "dnsaudit-live-\(pid)-\(tag)-client"
        serverNS = "dnsaudit-live-\(pid)-\(tag)-server"
        clientIf = "lc\(pid)\(tag)"
        serverIf = "ls\(pid)\(tag)"
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-live-\(pid)-\(tag)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // dnsaudit drops to nobody once the capture is open; rotation files are created after that.
        chmod(dir.path, 0o1777)
        try LiveLab.responderScript.write(to: dir.appendingPathComponent("responder.py"), atomically: true, encoding: .utf8)
        try LiveLab.clientScript.write(to: dir.appendingPathComponent("client.py"), atomically: true, encoding: .utf8)
    }

    @discardableResult
    func host(_ args: [String], timeout: TimeInterval = 15) throws -> RunOutcome {
        let r = try runBounded(ip, args, timeout: timeout)
        guard r.status == 0, !r.timedOut else {
            throw LiveLabError("ip \(args.joined(separator: " ")) failed (status \(r.status)\(r.timedOut ? ", timed out" : "")): \(r.output)")
        }
        return r
    }

    func exec(_ ns: String, _ argv: [String], timeout: TimeInterval = 15) throws -> RunOutcome {
        try runBounded(ip, ["netns", "exec", ns] + argv, timeout: timeout)
    }

    func build() throws {
        for ns in [clientNS, serverNS] {
            try host(["netns", "add", ns])
            createdNamespaces.append(ns)
            for key in ["all", "default"] {
                let r = try exec(ns, ["/bin/sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/\(key)/disable_ipv6"])
                guard r.status == 0 else { throw LiveLabError("cannot disable IPv6 in \(ns): \(r.output)") }
            }
            try host(["-n", ns, "link", "set", "lo", "up"])
        }
        // Created inside the namespaces: never an interface on the host.
        try host(["-n", clientNS, "link", "add", clientIf, "type", "veth", "peer", "name", serverIf, "netns", serverNS])
        try host(["-n", clientNS, "addr", "add", "\(LiveLab.clientAddress)/30", "dev", clientIf])
        try host(["-n", serverNS, "addr", "add", "\(LiveLab.serverAddress)/30", "dev", serverIf])
        try host(["-n", clientNS, "link", "set", clientIf, "up"])
        try host(["-n", serverNS, "link", "set", serverIf, "up"])
    }

    /// Starts a program inside a namespace (`ip netns exec` execs it: the PID is the program's).
    func spawn(_ ns: String, name: String, _ argv: [String]) throws -> BackgroundProcess {
        let outURL = dir.appendingPathComponent("\(name).out"), errURL = dir.appendingPathComponent("\(name).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let o = try FileHandle(forWritingTo: outURL), e = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ip)
        p.arguments = ["netns", "exec", ns] + argv
        p.currentDirectoryURL = dir
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = o
        p.standardError = e
        try p.run()
        try? o.close(); try? e.close()
        let b = BackgroundProcess(name: name, process: p, stdoutURL: outURL, stderrURL: errURL)
        background.append(b)
        return b
    }

    /// The DNS responder in the server namespace; `inject`: every query gets a forged answer
    /// (198.18.66.6, IP TTL 250) first, then the real one (198.18.100.1, IP TTL 64).
    func startResponder(inject: Bool) throws -> BackgroundProcess {
        let r = try spawn(serverNS, name: "responder", [python, "-u", dir.appendingPathComponent("responder.py").path,
                                                        LiveLab.serverAddress, inject ? "inject" : "clean"])
        guard waitUntil(timeout: 10, { !r.process.isRunning || r.stdout.contains("ready") }), r.process.isRunning else {
            throw LiveLabError("the DNS responder did not start: \(r.stdout) \(r.stderr)")
        }
        return r
    }

    /// `dnsaudit live` on the client's interface, returned once it says it is listening.
    func startLive(_ extra: [String]) throws -> BackgroundProcess {
        let l = try spawn(clientNS, name: "live-\(background.count)", [LivePaths.dnsaudit.path, "live", "-i", clientIf] + extra)
        guard waitUntil(timeout: 15, { !l.process.isRunning || l.stderr.contains("listening on") }) else {
            throw LiveLabError("dnsaudit live did not start listening in 15 s: \(l.stderr)")
        }
        guard l.process.isRunning || l.stderr.contains("listening on") else {
            throw LiveLabError("dnsaudit live exited at once (\(l.process.terminationStatus)): \(l.stderr)")
        }
        return l
    }

    /// Sends `count` A queries from the client namespace (one socket each; waits briefly for answers),
    /// or with `flood` all on one socket as fast as it can. Returns the client's output.
    func query(count: Int, flood: Bool = false, timeout: TimeInterval = 60) throws -> RunOutcome {
        let r = try exec(clientNS, [python, "-u", dir.appendingPathComponent("client.py").path, LiveLab.serverAddress, String(count),
                                    flood ? "flood" : "paced"], timeout: timeout)
        guard r.status == 0, !r.timedOut else { throw LiveLabError("the DNS client failed: \(r.output)") }
        return r
    }

    /// Stops every process this lab started (by PID), then deletes its namespaces. Idempotent.
    func destroy() {
        guard !destroyed else { return }
        destroyed = true
        for b in background.reversed() where b.process.isRunning {
            if !stopProcess(b.process) { print("live lab: \(b.name) (pid \(b.pid)) did not exit") }
        }
        for ns in createdNamespaces.reversed() {
            let r = try? runBounded(ip, ["netns", "delete", ns], timeout: 15)
            if r?.status != 0 { print("live lab: could not delete netns \(ns): \(r?.output ?? "?")") }
        }
    }

    func removeFiles() { try? FileManager.default.removeItem(at: dir) }

    static let responderScript =
        #"""
        import socket, struct, sys
        addr, mode = sys.argv[1], sys.argv[2]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((addr, 53))
        print("ready", flush=True)
        def answer(q, ip):
            end = 12
            while q[end] != 0:
                end += q[end] + 1
            hdr = q[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
            rr = struct.pack(">HHHIH", 0xC00C, 1, 1, 300, 4) + socket.inet_aton(ip)
            return hdr + q[12:end + 5] + rr
        while True:
            q, peer = s.recvfrom(4096)
            if len(q) < 17 or q[2] & 0x80:
                continue
            if mode == "inject":
                s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 250)
                s.sendto(answer(q, "198.18.66.6"), peer)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 64)
            s.sendto(answer(q, "198.18.100.1"), peer)
        """#

    static let clientScript = #"""
    import socket, struct, sys, time
    server, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    def query(qid, i):
        name = b"".join(bytes([len(l)]) + l for l in [b"host-%d-with-a-longer-label-for-size" % i, b"lab", b"test"]) + b"\0"
        return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
    if mode == "flood":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setblocking(False)
        got = 0
        for i in range(n):
            s.sendto(query(i & 0xffff, i), (server, 53))
            try:
                while True:
                    s.recv(4096); got += 1
            except BlockingIOError:
                pass
        s.settimeout(0.5)
        try:
            while True:
                s.recv(4096); got += 1
        except socket.timeout:
            pass
        print("sent", n, "responses", got, flush=True)
    else:
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(1.0)
            s.sendto(query(0x1000 + i, i), (server, 53))
            got = 0
            try:
                while True:
                    s.recvfrom(4096); got += 1
                    s.settimeout(0.2)
            except socket.timeout:
                pass
            print("query", i, "responses", got, flush=True)
            s.close()
            time.sleep(0.05)
    """#
}

/// JSON lines of a `--format jsonl` output, parsed (lines that are not JSON objects are skipped).
func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { line in
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
}

/// The kinds of the `finding` lines.
func findingKinds(_ lines: [[String: Any]]) -> [String] {
    lines.compactMap { l in
        guard l["event_type"] as? String == "finding" else { return nil }
        return (l["finding"] as? [String: Any])?["kind"] as? String
    }
}

/// The uid fields (real, effective, saved, fs) of a running process.
func processUids(_ pid: Int32) -> [String]? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
        return line.dropFirst(4).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }
    return nil
}
