import AnswerComparison
import DNSWire
import FindingPolicy
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How far and how long the route rung walks.
public struct HopLocatorOptions: Sendable {
    /// The highest TTL / hop limit tried (1…maxTTL).
    public var maxTTL: Int
    /// How long one TTL is listened to, in seconds.
    public var wait: Double
    /// After the first event of a TTL (an ICMP error or a response), how much longer to listen for
    /// the other one (an injector and the router's time-exceeded arrive together).
    public var grace: Double
    /// This many silent TTLs in a row end the walk.
    public var silentStop: Int

    public init(maxTTL: Int = 16, wait: Double = 1.0, grace: Double = 0.3, silentStop: Int = 3) {
        self.maxTTL = max(1, min(maxTTL, 64))
        self.wait = wait
        self.grace = grace
        self.silentStop = max(1, silentStop)
    }
}

/// What came back for one TTL.
public struct HopObservation: Sendable, Equatable {
    public var ttl: Int
    /// The router that sent ICMP time-exceeded for this TTL.
    public var router: String?
    /// Another ICMP error (destination unreachable…): "ICMP type/code from ADDRESS".
    public var icmpError: String?
    /// A response from the far side of the probe: an answer, a reset, data, a close, a completed
    /// handshake. nil: nothing but ICMP, or silence.
    public var response: Response?
    /// An ICMP error reached a connected TCP socket (its `so_error`, EHOSTUNREACH) without naming
    /// the sender: the kernel queues no address for an established connection.
    var unnamedICMPError = false

    public enum Response: Sendable, Equatable {
        case answer(String)
        case reset
        case data(Int)
        case closed
        case connected
    }

    var text: String {
        var parts: [String] = []
        if let router { parts.append("time-exceeded from \(router)") }
        if let icmpError { parts.append(icmpError) }
        switch response {
        case .answer(let a)?: parts.append("answer \(a)")
        case .reset?: parts.append("reset")
        case .data(let n)?: parts.append("\(n) bytes of data")
        case .closed?: parts.append("closed")
        case .connected?: parts.append("connected")
        case nil: break
        }
        return "TTL \(ttl): " + (parts.isEmpty ? "silence" : parts.joined(separator: " + "))
    }
}

/// One walk: the observations per TTL and where the tampering sits.
public struct HopWalk: Sendable {
    public var probe: TamperingHopEvidence.Probe
    public var destination: String
    public var port: UInt16
    public var observations: [HopObservation] = []
    /// Why the walk did not run.
    public var skipped: String?
    /// The TTL at which the destination (or whatever answers for it without a router in between) answered.
    public var reachedTTL: Int?
    /// The located tampering (forged answer, reset, silence); nil on a clean route.
    public var located: TamperingHopEvidence?

    /// The route rung's detail.
    public var summary: String {
        if let skipped { return "skipped: \(skipped)" }
        let hops = observations.compactMap(\.router)
        let path = hops.isEmpty ? "" : "; routers \(hops.joined(separator: " → "))"
        if let l = located {
            return FindingPolicy.hopEvidence(l).detail.replacingOccurrences(of: "route: ", with: "") + path
        }
        if let reached = reachedTTL {
            return "no tampering hop: the \(probe.rawValue) reached \(destination) at TTL \(reached)\(path)"
        }
        let last = observations.last.map(\.text) ?? "nothing tried"
        return "no tampering hop found within TTL \(observations.count) (\(last))\(path)"
    }
}

/// Finds the hop that tampers (issue 20 item 8; CenTrace, tcptraceroute): the offending packet is
/// repeated with IP TTL / hop limit 1…N on ordinary sockets with IP_RECVERR, whose error queue
/// names the router of each ICMP time-exceeded (`sock_extended_err`, SO_EE_ORIGIN_ICMP) — no raw
/// socket. A response arriving at a TTL whose packet a router expired, or at a TTL an innocuous
/// probe shows to end at a router, came from before the destination: forged. Blocking socket
/// calls run on a thread of their own, never on the concurrency pool.
public enum HopLocator {
    /// The DNS query (UDP) for `name` to `server`.
    public static func dnsQuery(server: String, port: UInt16 = 53, name: String, type: UInt16 = DNSType.a,
                                options: HopLocatorOptions = HopLocatorOptions()) async -> HopWalk {
        await onThread { walk(.dnsQuery, server, port, options) { ttl in Sockets.dnsObservation(server, port, name, type, ttl, options) } }
    }

    /// The TCP SYN to `address:port` (tcptraceroute).
    public static func tcpSyn(address: String, port: UInt16, options: HopLocatorOptions = HopLocatorOptions()) async -> HopWalk {
        await onThread { walk(.tcpSyn, address, port, options) { ttl in Sockets.synObservation(address, port, ttl, options) } }
    }

    /// The ClientHello with `serverName` (SNI) after a handshake at full TTL (CenTrace).
    public static func clientHello(address: String, port: UInt16, serverName: String,
                                   options: HopLocatorOptions = HopLocatorOptions()) async -> HopWalk {
        let hello = ClientHelloBytes.make(serverName: serverName)
        return await onThread { walk(.clientHello, address, port, options) { ttl in Sockets.helloObservation(address, port, hello, ttl, options) } }
    }

    static func onThread(_ body: @escaping @Sendable () -> HopWalk) async -> HopWalk {
        await withCheckedContinuation { (cont: CheckedContinuation<HopWalk, Never>) in
            let t = Thread { cont.resume(returning: body()) }
            t.name = "dnsaudit-hop-locator"
            t.start()
        }
    }

    /// The walk itself (synchronous; on the locator's thread).
    static func walk(_ probe: TamperingHopEvidence.Probe, _ destination: String, _ port: UInt16, _ options: HopLocatorOptions,
                     observe: (Int) -> Result<HopObservation, Sockets.Failure>) -> HopWalk {
        var w = HopWalk(probe: probe, destination: destination, port: port)
        var lastRouter: String?
        var silentFrom: Int?
        for ttl in 1...options.maxTTL {
            let o: HopObservation
            switch observe(ttl) {
            case .failure(let f):
                w.skipped = f.text
                return w
            case .success(let s): o = s
            }
            w.observations.append(o)
            if let response = o.response {
                // Before the destination? The probe's own time-exceeded says so; else an innocuous
                // probe (UDP to a closed port) with the same TTL: a router's time-exceeded means the
                // response came from before it.
                let router = o.router ?? Sockets.controlRouter(destination, ttl, options)
                if let router {
                    w.located = TamperingHopEvidence(probe: probe, tampering: kind(response), destination: destination, ttl: ttl,
                                                     tamperHop: router, lastCleanHop: lastRouter)
                } else {
                    w.reachedTTL = ttl
                }
                return w
            }
            if let router = o.router {
                lastRouter = router
                silentFrom = nil
                continue
            }
            if o.icmpError != nil {
                // An ICMP error other than time-exceeded: the path ends here (an unreachable
                // destination or a rejecting filter); the walk reports it, it does not guess.
                return w
            }
            if silentFrom == nil { silentFrom = ttl }
            if let s = silentFrom, ttl - s + 1 >= options.silentStop { break }
        }
        if let s = silentFrom {
            // Silence from TTL s on: name the router at TTL s with an innocuous probe, when one answers.
            w.located = TamperingHopEvidence(probe: probe, tampering: .silence, destination: destination, ttl: s,
                                             tamperHop: Sockets.controlRouter(destination, s, options), lastCleanHop: lastRouter)
        }
        return w
    }

    static func kind(_ r: HopObservation.Response) -> TamperingHopEvidence.Tampering {
        switch r {
        case .answer: return .forgedAnswer
        case .reset: return .reset
        case .data: return .forgedData
        case .closed: return .closed
        case .connected: return .forgedData
        }
    }
}

/// The socket work of the locator: ordinary UDP and TCP sockets, TTL set per probe, ICMP errors
/// read from the error queue.
enum Sockets {
    struct Failure: Error {
        var text: String
    }

    // Linux values (linux/in.h, linux/in6.h, linux/errqueue.h, linux/socket.h).
    static let ipRecvErr: Int32 = 11
    static let ipv6RecvErr: Int32 = 25
    static let ipv6UnicastHops: Int32 = 16
    static let msgErrQueue: Int32 = 0x2000
    static let originICMP: UInt8 = 2
    static let originICMP6: UInt8 = 3

    struct Address {
        var storage = sockaddr_storage()
        var length: socklen_t = 0
        var family: Int32 = 0

        init?(_ host: String, _ port: UInt16) {
            var v4 = in_addr()
            var v6 = in6_addr()
            if inet_pton(AF_INET, host, &v4) == 1 {
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                sin.sin_port = port.bigEndian
                sin.sin_addr = v4
                withUnsafeBytes(of: &sin) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
                length = socklen_t(MemoryLayout<sockaddr_in>.size)
                family = AF_INET
            } else if inet_pton(AF_INET6, host, &v6) == 1 {
                var sin6 = sockaddr_in6()
                sin6.sin6_family = sa_family_t(AF_INET6)
                sin6.sin6_port = port.bigEndian
                sin6.sin6_addr = v6
                withUnsafeBytes(of: &sin6) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
                length = socklen_t(MemoryLayout<sockaddr_in6>.size)
                family = AF_INET6
            } else {
                return nil
            }
        }
    }

    static func errnoText(_ what: String, _ e: Int32 = errno) -> String {
        "\(what): \(String(cString: strerror(e)))"
    }

    /// A socket with IP_RECVERR and the given TTL / hop limit, or why not.
    static func open(_ a: Address, _ type: Int32, ttl: Int?) -> Result<Int32, Failure> {
        let fd = socket(a.family, type, 0)
        guard fd >= 0 else {
            return .failure(Failure(text: errno == EPERM || errno == EACCES ? "needs CAP_NET_RAW (\(errnoText("socket")))" : errnoText("socket")))
        }
        var one: Int32 = 1
        let level = a.family == AF_INET ? Int32(IPPROTO_IP) : Int32(IPPROTO_IPV6)
        let recvErr = a.family == AF_INET ? ipRecvErr : ipv6RecvErr
        guard setsockopt(fd, level, recvErr, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let t = errnoText("IP_RECVERR")
            close(fd)
            return .failure(Failure(text: t))
        }
        if let ttl, !setTTL(fd, a.family, ttl) {
            let t = errno == EPERM ? "needs CAP_NET_RAW (\(errnoText("IP_TTL")))" : errnoText("IP_TTL")
            close(fd)
            return .failure(Failure(text: t))
        }
        return .success(fd)
    }

    static func setTTL(_ fd: Int32, _ family: Int32, _ ttl: Int) -> Bool {
        var v = Int32(ttl)
        if family == AF_INET {
            return setsockopt(fd, Int32(IPPROTO_IP), IP_TTL, &v, socklen_t(MemoryLayout<Int32>.size)) == 0
        }
        return setsockopt(fd, Int32(IPPROTO_IPV6), ipv6UnicastHops, &v, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    static func connectTo(_ fd: Int32, _ a: Address) -> Int32 {
        var s = a.storage
        return withUnsafePointer(to: &s) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, a.length) }
        }
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// One ICMP error from the error queue.
    struct QueuedError {
        var origin: UInt8
        var type: UInt8
        var code: UInt8
        var offender: String?
        var isTimeExceeded: Bool { (origin == originICMP && type == 11) || (origin == originICMP6 && type == 3) }
    }

    /// Drains the error queue (non-blocking).
    static func drainErrors(_ fd: Int32) -> [QueuedError] {
        var out: [QueuedError] = []
        var data = [UInt8](repeating: 0, count: 2048)
        var control = [UInt8](repeating: 0, count: 1024)
        for _ in 0..<64 {
            let (n, controlLength): (Int, Int) = data.withUnsafeMutableBytes { d in
                control.withUnsafeMutableBytes { c in
                    var iov = iovec(iov_base: d.baseAddress, iov_len: d.count)
                    return withUnsafeMutablePointer(to: &iov) { iovp in
                        var msg = msghdr()
                        msg.msg_iov = iovp
                        msg.msg_iovlen = 1
                        msg.msg_control = c.baseAddress
                        msg.msg_controllen = c.count
                        let n = recvmsg(fd, &msg, msgErrQueue | Int32(MSG_DONTWAIT))
                        return (n, Int(msg.msg_controllen))
                    }
                }
            }
            if n < 0 { break }
            out += parseControl(Array(control.prefix(min(controlLength, control.count))))
        }
        return out
    }

    /// The IP_RECVERR / IPV6_RECVERR messages of a control buffer (struct cmsghdr on 64-bit
    /// Linux: size_t len, int level, int type, data aligned to 8; then struct sock_extended_err
    /// and the offender's sockaddr). Bounds-checked: a short or odd buffer yields nothing.
    static func parseControl(_ c: [UInt8]) -> [QueuedError] {
        func u32(_ at: Int) -> UInt32 {
            guard at + 4 <= c.count else { return 0 }
            return c[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        func u64(_ at: Int) -> UInt64 {
            guard at + 8 <= c.count else { return 0 }
            return c[at..<at + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        var out: [QueuedError] = []
        var offset = 0
        while offset + 16 <= c.count {
            let length = Int(clamping: u64(offset))
            guard length >= 16, offset + length <= c.count else { break }
            let level = Int32(bitPattern: u32(offset + 8)), type = Int32(bitPattern: u32(offset + 12))
            let d = offset + 16
            if ((level == Int32(IPPROTO_IP) && type == ipRecvErr) || (level == Int32(IPPROTO_IPV6) && type == ipv6RecvErr)),
               d + 16 <= offset + length {
                var e = QueuedError(origin: c[d + 4], type: c[d + 5], code: c[d + 6], offender: nil)
                let sa = d + 16
                if sa + 2 <= offset + length {
                    let family = Int32(UInt16(c[sa]) | UInt16(c[sa + 1]) << 8)
                    if family == AF_INET, sa + 8 <= offset + length {
                        e.offender = c[sa + 4..<sa + 8].map(String.init).joined(separator: ".")
                    } else if family == AF_INET6, sa + 24 <= offset + length {
                        var a6 = in6_addr()
                        withUnsafeMutableBytes(of: &a6) { $0.copyBytes(from: c[sa + 8..<sa + 24]) }
                        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                        if inet_ntop(AF_INET6, &a6, &buf, socklen_t(buf.count)) != nil {
                            e.offender = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                        }
                    }
                }
                out.append(e)
            }
            offset += (length + 7) & ~7
        }
        return out
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Folds queued ICMP errors into an observation.
    static func note(_ errors: [QueuedError], into o: inout HopObservation) {
        for e in errors {
            if e.isTimeExceeded {
                if o.router == nil { o.router = e.offender ?? "an unnamed router" }
            } else if e.origin == originICMP || e.origin == originICMP6 {
                o.icmpError = o.icmpError ?? "ICMP\(e.origin == originICMP6 ? "v6" : "") type \(e.type) code \(e.code) from \(e.offender ?? "?")"
            }
        }
    }

    /// Listens on `fd` until the deadline: `read` is called when data or an error is pending and
    /// returns true when it saw a response. Ends early once a response and a time-exceeded (or
    /// another ICMP error) are both in, or `grace` after the first of them.
    static func listen(_ fd: Int32, _ o: inout HopObservation, _ options: HopLocatorOptions, read: (inout HopObservation) -> Void) {
        var deadline = now() + options.wait
        var firstEvent = false
        while true {
            let remaining = deadline - now()
            if remaining <= 0 { break }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(max(1, remaining * 1000)))
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { break }
            note(drainErrors(fd), into: &o)
            if p.revents & Int16(POLLIN) != 0 || p.revents & Int16(POLLERR) != 0 { read(&o) }
            let haveICMP = o.router != nil || o.icmpError != nil || o.unnamedICMPError
            if haveICMP && o.response != nil { break }
            if (haveICMP || o.response != nil) && !firstEvent {
                firstEvent = true
                deadline = min(deadline, now() + options.grace)
            }
            if p.revents & Int16(POLLHUP) != 0 && o.response != nil { break }
            if p.revents & Int16(POLLNVAL) != 0 { break }
        }
        note(drainErrors(fd), into: &o)
    }

    // MARK: The probes

    static func dnsObservation(_ server: String, _ port: UInt16, _ name: String, _ type: UInt16, _ ttl: Int,
                               _ options: HopLocatorOptions) -> Result<HopObservation, Failure> {
        guard let a = Address(server, port) else { return .failure(Failure(text: "\(server) is not an address")) }
        let fd: Int32
        switch open(a, Int32(SOCK_DGRAM.rawValue), ttl: ttl) {
        case .failure(let f): return .failure(f)
        case .success(let s): fd = s
        }
        defer { close(fd) }
        guard connectTo(fd, a) == 0 else { return .failure(Failure(text: errnoText("connect"))) }
        let id = UInt16.random(in: 1...UInt16.max)
        guard let query = try? DNSQuery.make(id: id, name: name, type: type) else { return .failure(Failure(text: "cannot encode a query for \(name)")) }
        guard query.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == query.count else { return .failure(Failure(text: errnoText("send"))) }
        var o = HopObservation(ttl: ttl)
        var buf = [UInt8](repeating: 0, count: 4096)
        listen(fd, &o, options) { o in
            for _ in 0..<64 {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n < 0 { if errno == EAGAIN || errno == EWOULDBLOCK { return } else { continue } }  // a pending ICMP error, reported once
                guard o.response == nil, case .success(let m) = DNSMessage.parse(Array(buf.prefix(n))), m.qr, m.id == id else { continue }
                o.response = .answer(AnswerFindings.describe(AnswerSet(message: m)))
            }
        }
        return .success(o)
    }

    /// A non-blocking connect with `ttl` (nil: the system's); the observation of the SYN.
    static func connectObservation(_ a: Address, _ ttl: Int?, wait: Double) -> (fd: Int32, o: HopObservation, failure: Failure?) {
        var o = HopObservation(ttl: ttl ?? 0)
        let fd: Int32
        switch open(a, Int32(SOCK_STREAM.rawValue), ttl: ttl) {
        case .failure(let f): return (-1, o, f)
        case .success(let s): fd = s
        }
        setNonBlocking(fd)
        if connectTo(fd, a) == 0 {
            o.response = .connected
            return (fd, o, nil)
        }
        guard errno == EINPROGRESS else {
            note(drainErrors(fd), into: &o)
            if errno == ECONNREFUSED { o.response = .reset }
            return (fd, o, nil)
        }
        let deadline = now() + wait
        while true {
            let remaining = deadline - now()
            if remaining <= 0 { break }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let r = poll(&p, 1, Int32(max(1, remaining * 1000)))
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { break }
            note(drainErrors(fd), into: &o)
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err == 0 && p.revents & Int16(POLLOUT) != 0 && p.revents & Int16(POLLERR) == 0 {
                o.response = .connected
                break
            }
            if err == ECONNREFUSED || err == ECONNRESET { o.response = .reset; break }
            if err != 0 { break }
        }
        note(drainErrors(fd), into: &o)
        return (fd, o, nil)
    }

    static func synObservation(_ address: String, _ port: UInt16, _ ttl: Int, _ options: HopLocatorOptions) -> Result<HopObservation, Failure> {
        guard let a = Address(address, port) else { return .failure(Failure(text: "\(address) is not an address")) }
        let c = connectObservation(a, ttl, wait: options.wait)
        if c.fd >= 0 { close(c.fd) }
        if let f = c.failure { return .failure(f) }
        return .success(c.o)
    }

    static func helloObservation(_ address: String, _ port: UInt16, _ hello: [UInt8], _ ttl: Int,
                                 _ options: HopLocatorOptions) -> Result<HopObservation, Failure> {
        guard let a = Address(address, port) else { return .failure(Failure(text: "\(address) is not an address")) }
        // The handshake at the system's TTL, then the hello with `ttl` (CenTrace).
        let c = connectObservation(a, nil, wait: max(options.wait, 3))
        if let f = c.failure { return .failure(f) }
        let fd = c.fd
        var systemTTL: Int32 = 64
        var size = socklen_t(MemoryLayout<Int32>.size)
        _ = a.family == AF_INET ? getsockopt(fd, Int32(IPPROTO_IP), IP_TTL, &systemTTL, &size)
                                : getsockopt(fd, Int32(IPPROTO_IPV6), ipv6UnicastHops, &systemTTL, &size)
        defer {
            // Back to the system's TTL and an abortive close: the reset reaches the server (a FIN
            // with the probe's TTL would not, and leave it waiting on a half-open connection).
            _ = setTTL(fd, a.family, Int(systemTTL > 0 ? systemTTL : 64))
            var l = linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
            close(fd)
        }
        guard c.o.response == .connected else {
            return .failure(Failure(text: "the TCP handshake with \(address):\(port) at full TTL did not complete"))
        }
        guard setTTL(fd, a.family, ttl) else { return .failure(Failure(text: errnoText("IP_TTL"))) }
        _ = drainErrors(fd)
        guard hello.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == hello.count else {
            return .failure(Failure(text: errnoText("send")))
        }
        var o = HopObservation(ttl: ttl)
        var buf = [UInt8](repeating: 0, count: 16384)
        listen(fd, &o, options) { o in
            for _ in 0..<64 where o.response == nil {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n > 0 { o.response = .data(n); return }
                if n == 0 { o.response = .closed; return }
                if errno == ECONNRESET { o.response = .reset; return }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                if errno == EPIPE || errno == ENOTCONN { o.response = .closed; return }
                // EHOSTUNREACH and the like: a pending ICMP error, reported once; read again.
                if errno == EHOSTUNREACH || errno == ENETUNREACH { o.unnamedICMPError = true }
            }
        }
        if o.unnamedICMPError && o.router == nil && o.icmpError == nil {
            // Linux queues no offender for an established connection (tcp_v4_err sets only
            // so_error): the router at this TTL is named by the innocuous probe.
            if let r = controlRouter(address, ttl, options) { o.router = r } else { o.icmpError = "an ICMP error (host unreachable or time exceeded) from an unnamed hop" }
        }
        return .success(o)
    }

    /// The router at `ttl` on the way to `destination`, from an innocuous probe: a UDP datagram to
    /// a traceroute port. nil when the datagram reached the destination or nothing answered.
    static func controlRouter(_ destination: String, _ ttl: Int, _ options: HopLocatorOptions) -> String? {
        guard let a = Address(destination, UInt16(33434 + min(ttl, 64))) else { return nil }
        for _ in 0..<2 {
            guard case .success(let fd) = open(a, Int32(SOCK_DGRAM.rawValue), ttl: ttl) else { return nil }
            defer { close(fd) }
            guard connectTo(fd, a) == 0 else { return nil }
            let payload = [UInt8](repeating: 0, count: 32)
            _ = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var o = HopObservation(ttl: ttl)
            listen(fd, &o, options) { _ in
                var b = [UInt8](repeating: 0, count: 512)
                for _ in 0..<64 {
                    let n = b.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
                }
            }
            if let r = o.router { return r }
            if o.icmpError != nil { return nil }
        }
        return nil
    }
}

/// A minimal TLS 1.2/1.3 ClientHello carrying a server name (what an SNI filter matches on).
enum ClientHelloBytes {
    static func make(serverName: String) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
        let name = Array(serverName.utf8.prefix(255))
        var ext: [UInt8] = []
        // server_name
        let sni = [0] + u16(name.count) + name
        ext += u16(0) + u16(sni.count + 2) + u16(sni.count) + sni
        // supported_groups: x25519, secp256r1
        ext += u16(10) + u16(6) + u16(4) + u16(0x001d) + u16(0x0017)
        // ec_point_formats: uncompressed
        ext += u16(11) + u16(2) + [1, 0]
        // signature_algorithms
        let sigs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601].flatMap(u16)
        ext += u16(13) + u16(sigs.count + 2) + u16(sigs.count) + sigs
        // supported_versions: TLS 1.3, 1.2
        ext += u16(43) + u16(5) + [4] + u16(0x0304) + u16(0x0303)
        // key_share: x25519 with a random point (the server answers, which is all the walk needs)
        let key = (0..<32).map { _ in UInt8.random(in: 0...255) }
        ext += u16(51) + u16(key.count + 6) + u16(key.count + 4) + u16(0x001d) + u16(key.count) + key
        let suites = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8].flatMap(u16)
        var body: [UInt8] = u16(0x0303) + (0..<32).map { _ in UInt8.random(in: 0...255) }
        body += [32] + (0..<32).map { _ in UInt8.random(in: 0...255) }
        body += u16(suites.count) + suites + [1, 0] + u16(ext.count) + ext
        let handshake = [1, 0] + u16(body.count) + body
        return [0x16, 0x03, 0x01] + u16(handshake.count) + handshake
    }
}
