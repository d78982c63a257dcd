import NIOCore
import NIOHPACK

/// One DNS message carried by cleartext DNS over HTTPS (RFC 8484): a GET's `dns=` parameter
/// (base64url), or a POST's or a response's `application/dns-message` body.
public struct DoHMessage: Sendable, Equatable {
    public var fromClient: Bool
    /// The HTTP/2 stream (odd, the client's), or the request's ordinal on an HTTP/1.1 connection.
    public var stream: UInt32
    public var dns: [UInt8]
    public var http2: Bool

    public init(fromClient: Bool, stream: UInt32, dns: [UInt8], http2: Bool) {
        self.fromClient = fromClient
        self.stream = stream
        self.dns = dns
        self.http2 = http2
    }
}

/// Follows both directions of one cleartext HTTP connection — HTTP/1.1, HTTP/2 with prior
/// knowledge (the connection preface), or HTTP/1.1 upgraded to h2c — and yields the DNS messages
/// of its DoH requests and responses. Bounded (header blocks, bodies, streams, buffered bytes);
/// never traps on hostile input: a direction it cannot follow is given up.
public final class DoHStreamDecoder {
    public static let maxBuffered = 262_144
    public static let maxBody = 65_535
    public static let maxStreams = 256
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Mode { case start, http1, http2, dead }

    /// One direction's parser state.
    struct Side {
        var mode: Mode = .start
        var buffer: [UInt8] = []
        /// HTTP/1.1 body bytes still to skip (not DoH) or to collect (DoH).
        var bodyRemaining = 0
        var collecting = false
        var body: [UInt8] = []
        var http1Count: UInt32 = 0
        /// HTTP/2: the header block being continued, and its stream.
        var headerBlock: [UInt8] = []
        var inHeaderBlock = false
        var headerStream: UInt32 = 0
        var headerEndStream = false
        /// Made on the first HTTP/2 header block: most followed connections are HTTP/1.1 and are
        /// given up after one request, so they never pay for a decoder's tables.
        var hpack: HPACKDecoder?
        var streams: [UInt32: H2Stream] = [:]
    }

    struct H2Stream {
        var dnsBody = false
        var data: [UInt8] = []
    }

    var client = Side()
    var server = Side()
    /// The client asked to upgrade to h2c: the server's 101 switches both directions to HTTP/2.
    var upgradeRequested = false
    /// The client's HTTP/1.1 request that asked for the upgrade was DoH with a body expected on stream 1.
    public private(set) var sawDoH = false
    public var isDead: Bool { client.mode == .dead }
    /// HTTP/1.1 request heads the client sent (0 on HTTP/2).
    public var clientRequests: UInt32 { client.http1Count }
    /// The client asked for h2c, or speaks HTTP/2.
    public var isHTTP2OrUpgrading: Bool { upgradeRequested || client.mode == .http2 }

    /// Does a client's first bytes start like HTTP/1.x (a method) or HTTP/2 (the preface)?
    public static func looksLikeHTTPClient(_ b: UnsafeRawBufferPointer) -> Bool {
        if b.count >= 4 && b[0] == UInt8(ascii: "P") && b[1] == UInt8(ascii: "R") && b[2] == UInt8(ascii: "I") && b[3] == UInt8(ascii: " ") { return true }
        return methods.contains { m in b.count > m.count && zip(m.indices, m).allSatisfy { b[$0] == $1 } }
    }

    /// Whether a connection's first client bytes are plain web traffic, told without parsing them
    /// (no `String`, no allocation): they start with an HTTP/1.x method, the request head ends
    /// within them, and nowhere in them is `dns=`, `dns-message` or `h2c` (in any case). Fed to
    /// a decoder, such bytes yield no DNS message, no HTTP/2 and no upgrade: their first request is
    /// not DoH. The `PRI` preface of HTTP/2 is never plain.
    public static func isPlainHTTPRequest(_ b: UnsafeRawBufferPointer) -> Bool {
        guard b.count >= 8, methods.contains(where: { m in zip(m.indices, m).allSatisfy { b[$0] == $1 } }) else { return false }
        var headEnded = false
        let n = b.count
        var i = 0
        while i < n {
            let c = b[i]
            if c == 13 {
                if !headEnded && i + 3 < n && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { headEnded = true }
            } else if c | 0x20 == UInt8(ascii: "d") {
                // "dns=" or "dns-message": an ASCII letter's case is its 0x20 bit.
                if i + 3 < n && b[i + 1] | 0x20 == UInt8(ascii: "n") && b[i + 2] | 0x20 == UInt8(ascii: "s")
                    && (b[i + 3] == UInt8(ascii: "=") || b[i + 3] == UInt8(ascii: "-")) { return false }
            } else if c | 0x20 == UInt8(ascii: "h") {
                if i + 2 < n && b[i + 1] == UInt8(ascii: "2") && b[i + 2] | 0x20 == UInt8(ascii: "c") { return false }
            }
            i += 1
        }
        return headEnded
    }

    /// The client's HTTP/1.1 request is DoH and its body is still to come.
    public var clientAwaitsDoHBody: Bool { client.mode == .http1 && client.collecting }

    public init() {}

    /// Feed in-order bytes of one direction; DNS messages completed by them are appended to `out`.
    /// Returns false once this direction can no longer be followed (not HTTP, or hostile).
    @discardableResult
    public func feed(_ bytes: UnsafeRawBufferPointer, fromClient: Bool, into out: inout [DoHMessage]) -> Bool {
        if fromClient { return feed(&client, bytes, fromClient: true, &out) }
        return feed(&server, bytes, fromClient: false, &out)
    }

    private func feed(_ s: inout Side, _ bytes: UnsafeRawBufferPointer, fromClient: Bool, _ out: inout [DoHMessage]) -> Bool {
        guard s.mode != .dead else { return false }
        var input = bytes[...]
        // HTTP/1.1 bodies that are skipped are never buffered.
        if s.mode == .http1 && s.bodyRemaining > 0 && !s.collecting && s.buffer.isEmpty {
            let n = min(s.bodyRemaining, input.count)
            s.bodyRemaining -= n
            input = input.dropFirst(n)
        }
        guard s.buffer.count + input.count <= Self.maxBuffered else { s.mode = .dead; return false }
        s.buffer.append(contentsOf: input)
        var progressed = true
        while progressed && s.mode != .dead {
            progressed = false
            switch s.mode {
            case .start:
                progressed = start(&s, fromClient: fromClient)
            case .http1:
                progressed = http1(&s, fromClient: fromClient, &out)
            case .http2:
                progressed = http2(&s, fromClient: fromClient, &out)
            case .dead:
                break
            }
        }
        return s.mode != .dead
    }

    static let methods = ["GET ", "POST ", "HEAD ", "PUT ", "OPTIONS ", "DELETE ", "PATCH "].map { Array($0.utf8) }

    private func start(_ s: inout Side, fromClient: Bool) -> Bool {
        let b = s.buffer
        if fromClient {
            if b.count < Self.preface.count && Self.preface.starts(with: b) { return false }  // wait
            if b.starts(with: Self.preface) {
                s.buffer.removeFirst(Self.preface.count)
                s.mode = .http2
                return true
            }
            if b.count < 8 && Self.methods.contains(where: { $0.starts(with: b) || b.starts(with: $0) }) && !b.contains(UInt8(ascii: " ")) { return false }
            s.mode = Self.methods.contains(where: { b.starts(with: $0) }) ? .http1 : .dead
            return s.mode != .dead
        }
        let http = Array("HTTP/1.".utf8)
        if b.count < http.count && http.starts(with: b) { return false }
        if b.starts(with: http) { s.mode = .http1; return true }
        // A server speaking HTTP/2 first sends a SETTINGS frame (type 4, stream 0).
        if b.count < 9 { return false }
        if b[3] == 4 && b[5] == 0 && b[6] == 0 && b[7] == 0 && b[8] == 0 && client.mode == .http2 {
            s.mode = .http2
            return true
        }
        s.mode = .dead
        return false
    }

    // MARK: - HTTP/1.1

    /// One request or response head, and its body when it is DoH.
    private func http1(_ s: inout Side, fromClient: Bool, _ out: inout [DoHMessage]) -> Bool {
        if s.bodyRemaining > 0 {
            let n = min(s.bodyRemaining, s.buffer.count)
            guard n > 0 else { return false }
            if s.collecting { s.body.append(contentsOf: s.buffer[..<n]) }
            s.buffer.removeFirst(n)
            s.bodyRemaining -= n
            if s.bodyRemaining == 0 && s.collecting {
                out.append(DoHMessage(fromClient: fromClient, stream: s.http1Count, dns: s.body, http2: false))
                sawDoH = true
                s.collecting = false
                s.body = []
            }
            return true
        }
        guard let end = headEnd(s.buffer) else {
            if s.buffer.count > 16_384 { s.mode = .dead }
            return false
        }
        let head = Array(s.buffer[..<end])
        s.buffer.removeFirst(end + 4)
        guard let text = String(validating: head, as: UTF8.self) else { s.mode = .dead; return false }
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard let first = lines.first else { s.mode = .dead; return false }
        var headers: [String: String] = [:]
        for l in lines.dropFirst() {
            guard let colon = l.firstIndex(of: ":") else { continue }
            headers[l[..<colon].lowercased()] = l[l.index(after: colon)...].trimmingSpaces()
        }
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        guard length >= 0 else { s.mode = .dead; return false }
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true { s.mode = .dead; return false }  // not followed
        let dnsBody = headers["content-type"]?.lowercased().hasPrefix("application/dns-message") == true
        let parts = first.split(separator: " ", maxSplits: 2)
        if fromClient {
            s.http1Count &+= 1
            guard parts.count >= 2 else { s.mode = .dead; return false }
            if parts[0] == "GET", let q = dnsParameter(String(parts[1])), let msg = base64url(q) {
                out.append(DoHMessage(fromClient: true, stream: s.http1Count, dns: msg, http2: false))
                sawDoH = true
            }
            if headers["upgrade"]?.lowercased().split(separator: ",").contains(where: { $0.trimmingSpaces() == "h2c" }) == true {
                upgradeRequested = true
            }
        } else {
            guard parts.count >= 2, let status = Int(parts[1]) else { s.mode = .dead; return false }
            s.http1Count &+= 1
            if status == 101 && upgradeRequested {
                // RFC 7540 §3.2: the server's next bytes are HTTP/2 (its SETTINGS first); the client
                // sends the connection preface. The upgrade request is stream 1, answered there.
                s.mode = .http2
                if client.mode == .http1 { client.mode = .start }
                s.streams[1] = H2Stream(dnsBody: true)
                return true
            }
            if status < 200 || status == 204 || status == 304 { return true }
        }
        if length > 0 {
            guard length <= Self.maxBuffered else {
                // Too big to be DoH: skipped.
                s.bodyRemaining = length
                s.collecting = false
                return true
            }
            s.bodyRemaining = length
            s.collecting = dnsBody && length <= Self.maxBody
            s.body = []
        }
        return true
    }

    private func headEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        var i = 0
        while i + 3 < b.count {
            if b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
            i += 1
        }
        return nil
    }

    // MARK: - HTTP/2

    private func http2(_ s: inout Side, fromClient: Bool, _ out: inout [DoHMessage]) -> Bool {
        let b = s.buffer
        guard b.count >= 9 else { return false }
        let length = Int(b[0]) << 16 | Int(b[1]) << 8 | Int(b[2])
        guard length <= 1 << 20 else { s.mode = .dead; return false }
        guard b.count >= 9 + length else { return false }
        let type = b[3], flags = b[4]
        let stream = (UInt32(b[5]) << 24 | UInt32(b[6]) << 16 | UInt32(b[7]) << 8 | UInt32(b[8])) & 0x7fff_ffff
        var payload = Array(b[9..<(9 + length)])
        s.buffer.removeFirst(9 + length)
        // A header block must be continued by CONTINUATION frames of the same stream only.
        if s.inHeaderBlock && (type != 9 || stream != s.headerStream) { s.mode = .dead; return false }
        switch type {
        case 0:  // DATA
            guard stripPadding(&payload, flags: flags) else { s.mode = .dead; return false }
            if var st = s.streams[stream], st.dnsBody {
                if st.data.count + payload.count <= Self.maxBody { st.data += payload } else { st.dnsBody = false }
                s.streams[stream] = st
            }
            if flags & 0x1 != 0 { endStream(&s, stream, fromClient: fromClient, &out) }
        case 1:  // HEADERS
            guard stripPadding(&payload, flags: flags) else { s.mode = .dead; return false }
            if flags & 0x20 != 0 {
                guard payload.count >= 5 else { s.mode = .dead; return false }
                payload.removeFirst(5)
            }
            s.headerBlock = payload
            s.inHeaderBlock = true
            s.headerStream = stream
            s.headerEndStream = flags & 0x1 != 0
            if flags & 0x4 != 0 { return headersDone(&s, fromClient: fromClient, &out) }
        case 9:  // CONTINUATION
            guard s.inHeaderBlock, s.headerBlock.count + payload.count <= 65_536 else { s.mode = .dead; return false }
            s.headerBlock += payload
            if flags & 0x4 != 0 { return headersDone(&s, fromClient: fromClient, &out) }
        case 5:  // PUSH_PROMISE: its header block changes the HPACK state; not followed.
            s.mode = .dead
            return false
        default:
            break  // SETTINGS, PING, WINDOW_UPDATE, RST_STREAM, PRIORITY, GOAWAY, unknown: no DNS
        }
        return true
    }

    private func stripPadding(_ p: inout [UInt8], flags: UInt8) -> Bool {
        guard flags & 0x8 != 0 else { return true }
        guard let pad = p.first, Int(pad) < p.count else { return false }
        p = Array(p[1..<(p.count - Int(pad))])
        return true
    }

    private func headersDone(_ s: inout Side, fromClient: Bool, _ out: inout [DoHMessage]) -> Bool {
        var buf = ByteBuffer(bytes: s.headerBlock)
        s.headerBlock = []
        s.inHeaderBlock = false
        // Moved out and back so that the decoder's table stays uniquely owned (no copy per block).
        var hpack = s.hpack ?? HPACKDecoder(allocator: ByteBufferAllocator())
        s.hpack = nil
        let decoded = try? hpack.decodeHeaders(from: &buf)
        s.hpack = hpack
        guard let headers = decoded else { s.mode = .dead; return false }
        let stream = s.headerStream
        var st = s.streams[stream] ?? H2Stream()
        if let ct = headers.first(name: "content-type") { st.dnsBody = ct.lowercased().hasPrefix("application/dns-message") }
        if fromClient, headers.first(name: ":method") == "GET", let path = headers.first(name: ":path"),
           let q = dnsParameter(path), let msg = base64url(q) {
            out.append(DoHMessage(fromClient: true, stream: stream, dns: msg, http2: true))
            sawDoH = true
        }
        if s.streams[stream] == nil && s.streams.count >= Self.maxStreams { s.streams.removeAll(keepingCapacity: true) }
        s.streams[stream] = st
        if s.headerEndStream { endStream(&s, stream, fromClient: fromClient, &out) }
        return true
    }

    private func endStream(_ s: inout Side, _ stream: UInt32, fromClient: Bool, _ out: inout [DoHMessage]) {
        guard let st = s.streams.removeValue(forKey: stream) else { return }
        if st.dnsBody && !st.data.isEmpty {
            out.append(DoHMessage(fromClient: fromClient, stream: stream, dns: st.data, http2: true))
            sawDoH = true
        }
    }

    // MARK: - GET ?dns=

    /// The `dns` query parameter of a request target.
    func dnsParameter(_ target: String) -> String? {
        guard let q = target.firstIndex(of: "?") else { return nil }
        for pair in target[target.index(after: q)...].split(separator: "&") where pair.hasPrefix("dns=") {
            return String(pair.dropFirst(4))
        }
        return nil
    }
}

/// base64url without padding (RFC 4648 §5, as RFC 8484 §6 uses it); padding tolerated. Nil on any other byte.
public func base64url(_ s: String) -> [UInt8]? {
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count * 3 / 4)
    var acc: UInt32 = 0, bits = 0
    for c in s.utf8 {
        let v: UInt32
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "-"): v = 62
        case UInt8(ascii: "_"): v = 63
        case UInt8(ascii: "="): continue
        default: return nil
        }
        acc = acc << 6 | v
        bits += 6
        if bits >= 8 {
            bits -= 8
            out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
        }
    }
    return out.isEmpty ? nil : out
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
