import Foundation
import IntegrationSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

// Support for the root-only live-capture lab: two network namespaces joined by a veth pair, a tiny
// Python DNS responder in one, the built dnsaudit capturing in the other. Processes, namespaces,
// skips and the binary's location come from IntegrationSupport.

/// A tool found in the system directories first (the distribution's python3 rather than a
/// virtualenv's on PATH), then on PATH.
func findTool(_ name: String) -> String? {
    Requirements.findTool(name, preferring: ["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
}

/// client ── server, two network namespaces joined by one veth pair:
///   client 198.18.20.1/30 ── 198.18.20.2/30 server
/// (198.18.0.0/15, the benchmarking range; the host uses 192.0.2.0/24). No default routes, IPv6
/// off: nothing can leave the lab. Names carry the test process's PID.
final class LiveLab: NamespaceLab {
    static let clientAddress = "198.18.20.1"
    static let serverAddress = "198.18.20.2"

    let python: String
    let tag: String
    let clientNS: String, serverNS: String
    let clientIf: String, serverIf: String

    /// The tools, or an XCTSkip that says why (printed too, so CI logs show it).
    static func requirements() throws -> (ip: String, python: String) {
        func skip(_ reason: String) -> XCTSkip { Requirements.skip("LiveIntegrationTests", reason) }
        try Requirements.requireRoot("LiveIntegrationTests", "needs root (network namespaces, live capture)")
        guard let ip = findTool("ip") else { throw skip("'ip' (iproute2) is not installed") }
        guard let python = findTool("python3") else { throw skip("python3 is not installed (the lab's DNS responder)") }
        guard PackagePaths.dnsauditIsBuilt else {
            throw skip("\(PackagePaths.dnsaudit.path) is not built (swift build --build-tests)")
        }
        return (ip, python)
    }

    init(tag: String) throws {
        let req = try LiveLab.requirements()
        python = req.python
        self.tag = tag
        let pid = getpid()
        clientNS = "dnsaudit-live-\(pid)-\(tag)-client"
        serverNS = "dnsaudit-live-\(pid)-\(tag)-server"
        clientIf = "lc\(pid)\(tag)"
        serverIf = "ls\(pid)\(tag)"
        try super.init(ip: req.ip, label: "live lab", dirPrefix: "dnsaudit-live-\(pid)-\(tag)")
        // dnsaudit drops to nobody once the capture is open; rotation files are created after that.
        chmod(dir.path, 0o1777)
        try LiveLab.responderScript.write(to: dir.appendingPathComponent("responder.py"), atomically: true, encoding: .utf8)
        try LiveLab.clientScript.write(to: dir.appendingPathComponent("client.py"), atomically: true, encoding: .utf8)
    }

    func build() throws {
        for ns in [clientNS, serverNS] {
            try addNamespace(ns)
        }
        try addLink(clientIf, in: clientNS, address: "\(LiveLab.clientAddress)/30",
                    peer: serverIf, in: serverNS, peerAddress: "\(LiveLab.serverAddress)/30")
    }

    /// The DNS responder in the server namespace; `inject`: every query gets a forged answer
    /// (198.18.66.6, IP TTL 250) first, then the real one (198.18.100.1, IP TTL 64).
    func startResponder(inject: Bool) throws -> SpawnedProcess {
        let r = try spawn(serverNS, name: "responder", [python, "-u", dir.appendingPathComponent("responder.py").path,
                                                        LiveLab.serverAddress, inject ? "inject" : "clean"], separateOutputs: true)
        guard waitUntil(timeout: 10, { !r.isRunning || r.stdout.contains("ready") }), r.isRunning else {
            throw LabError("the DNS responder did not start: \(r.stdout) \(r.stderr)")
        }
        return r
    }

    /// `dnsaudit live` on the client's interface, returned once it says it is listening.
    func startLive(_ extra: [String]) throws -> SpawnedProcess {
        let l = try spawn(clientNS, name: "live-\(background.count)", [PackagePaths.dnsaudit.path, "live", "-i", clientIf] + extra,
                          separateOutputs: true)
        guard waitUntil(timeout: 15, { !l.isRunning || l.stderr.contains("listening on") }) else {
            throw LabError("dnsaudit live did not start listening in 15 s: \(l.stderr)")
        }
        guard l.isRunning || l.stderr.contains("listening on") else {
            throw LabError("dnsaudit live exited at once (\(l.exitCode.map(String.init) ?? "?")): \(l.stderr)")
        }
        return l
    }

    /// Sends `count` A queries from the client namespace (one socket each; waits briefly for answers),
    /// or with `flood` all on one socket as fast as it can. Returns the client's output.
    func query(count: Int, flood: Bool = false, timeout: TimeInterval = 60) throws -> RunOutcome {
        let r = try exec(clientNS, [python, "-u", dir.appendingPathComponent("client.py").path, LiveLab.serverAddress, String(count),
                                    flood ? "flood" : "paced"], timeout: timeout)
        guard r.status == 0, !r.timedOut else { throw LabError("the DNS client failed: \(r.output)") }
        return r
    }

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
