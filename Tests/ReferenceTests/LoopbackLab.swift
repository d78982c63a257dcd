import Foundation

/// unbound (Do53, DoT, DoH for zone lab.test, certificate from a throw-away CA) and three hostile
/// TCP servers (silent, garbage, truncated answer) on one loopback address. Started by the tests,
/// stopped by PID; nothing leaves loopback, and unbound refuses everything but lab.test.
final class LoopbackLab: @unchecked Sendable {
    let dir: URL
    let address: String
    let dnsPort = 5353 + 1000, dotPort = 8853, dohPort = 8443
    let silentPort = 9853, garbagePort = 9854, truncatedPort = 9855, closedPort = 9856
    var pids: [Int32] = []
    var caFile: String { dir.appendingPathComponent("ca.pem").path }

    struct LabError: Error, CustomStringConvertible { var description: String }

    static func which(_ tool: String) -> String? {
        for d in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(d)/\(tool)") {
            return "\(d)/\(tool)"
        }
        return nil
    }

    static func start() throws -> LoopbackLab {
        guard let unbound = which("unbound"), let openssl = which("openssl"), let python = which("python3") else {
            throw LabError(description: "unbound, openssl and python3 are needed (apt-get install unbound openssl)")
        }
        let lab = LoopbackLab(address: "127.77.\(getpid() % 200 + 1).1")
        do {
            try lab.makeCertificates(openssl)
            try lab.startUnbound(unbound)
            try lab.startHostile(python)
            try lab.waitForPort(lab.dotPort)
            try lab.waitForPort(lab.silentPort)
        } catch {
            lab.stop()
            throw error
        }
        return lab
    }

    init(address: String) {
        self.address = address
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-reflab-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    @discardableResult
    func run(_ exe: String, _ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw LabError(description: "\(exe) \(args.prefix(3).joined(separator: " ")) failed") }
        return p.terminationStatus
    }

    func spawn(_ exe: String, _ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        pids.append(p.processIdentifier)
    }

    func makeCertificates(_ openssl: String) throws {
        let d = dir.path
        try """
        [req]
        distinguished_name = dn
        [dn]
        [ca]
        basicConstraints = critical,CA:TRUE
        keyUsage = critical,keyCertSign,cRLSign
        [srv]
        basicConstraints = CA:FALSE
        subjectAltName = DNS:resolver.lab.test,IP:\(address)
        extendedKeyUsage = serverAuth
        """.write(toFile: "\(d)/x.cnf", atomically: true, encoding: .utf8)
        try run(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(d)/ca.key",
                          "-out", "\(d)/ca.pem", "-days", "2", "-subj", "/CN=dnsaudit test CA", "-config", "\(d)/x.cnf", "-extensions", "ca"])
        try run(openssl, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(d)/srv.key",
                          "-out", "\(d)/srv.csr", "-subj", "/CN=resolver.lab.test", "-config", "\(d)/x.cnf"])
        try run(openssl, ["x509", "-req", "-in", "\(d)/srv.csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca.key", "-CAcreateserial",
                          "-out", "\(d)/srv.pem", "-days", "2", "-extfile", "\(d)/x.cnf", "-extensions", "srv"])
    }

    func startUnbound(_ unbound: String) throws {
        let d = dir.path
        try """
        server:
          interface: \(address)@\(dnsPort)
          interface: \(address)@\(dotPort)
          interface: \(address)@\(dohPort)
          port: \(dnsPort)
          tls-port: \(dotPort)
          https-port: \(dohPort)
          tls-service-key: "\(d)/srv.key"
          tls-service-pem: "\(d)/srv.pem"
          http-endpoint: "/dns-query"
          username: ""
          chroot: ""
          directory: "\(d)"
          pidfile: "\(d)/unbound.pid"
          do-not-query-localhost: no
          access-control: 127.0.0.0/8 allow
          module-config: "iterator"
          local-zone: "." refuse
          local-zone: "lab.test." static
          local-data: "www.lab.test. 300 IN A 198.18.50.10"
          use-syslog: no
          logfile: ""
        remote-control:
          control-enable: no
        forward-zone:
          name: "."
          forward-addr: 127.0.0.1@9
        """.write(toFile: "\(d)/unbound.conf", atomically: true, encoding: .utf8)
        try spawn(unbound, ["-d", "-c", "\(d)/unbound.conf"])
    }

    func startHostile(_ python: String) throws {
        let script = """
        import socket, threading, sys, time
        addr = sys.argv[1]
        def serve(port, reply):
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port)); s.listen(16)
            while True:
                c, _ = s.accept()
                def handle(c):
                    try:
                        data = c.recv(4096)
                        if reply is not None and len(data) >= 4:
                            c.sendall(reply(data))
                        time.sleep(5)
                    finally:
                        c.close()
                threading.Thread(target=handle, args=(c,), daemon=True).start()
        def garbage(q): return b"\\x00\\x10" + bytes(range(16))
        def truncated(q):
            msg = q[2:4] + b"\\x81\\x80\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x00\\x03www"
            return len(msg).to_bytes(2, "big") + msg
        for port, reply in ((\(silentPort), None), (\(garbagePort), garbage), (\(truncatedPort), truncated)):
            threading.Thread(target=serve, args=(port, reply), daemon=True).start()
        time.sleep(600)
        """
        let path = dir.appendingPathComponent("hostile.py").path
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try spawn(python, [path, address])
    }

    func waitForPort(_ port: Int) throws {
        for _ in 0..<100 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, address, &sa.sin_addr)
            let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            close(fd)
            if ok == 0 { return }
            usleep(50_000)
        }
        throw LabError(description: "nothing listens on \(address):\(port) after 5 s")
    }

    func stop() {
        for pid in pids { kill(pid, SIGTERM) }
        for pid in pids { var st: Int32 = 0; waitpid(pid, &st, 0) }
        pids.removeAll()
        try? FileManager.default.removeItem(at: dir)
    }
}
