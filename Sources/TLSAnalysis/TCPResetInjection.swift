import FindingPolicy
import Findings
import NetTypes
import WireBytes

/// What the client's first data segment shows: an HTTP request (its Host), a TLS record (its SNI
/// when the first bytes hold it), or raw bytes. Strict and bounded: never traps on any input.
public enum FirstBytesClassifier {
    static let methods: [[UInt8]] = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE"].map { Array($0.utf8) }
    /// How far into the first bytes a Host header is looked for.
    static let maxHeaderBytes = 4096

    public static func classify(_ b: UnsafeRawBufferPointer) -> FirstBytesSeen {
        if b.count >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04 { return .tls(sni: partialSNI(b)) }
        for m in methods where b.count > m.count && b[m.count] == UInt8(ascii: " ") && zip(m.indices, m).allSatisfy({ b[$0] == $1 }) {
            return .http(method: String(decoding: m, as: UTF8.self), host: httpHost(b))
        }
        return .raw(preview: preview(b))
    }

    /// The `Host` header's value in the request head (first `maxHeaderBytes`), printable ASCII only.
    /// Allocates nothing but the result (every connection's first request comes here).
    static func httpHost(_ b: UnsafeRawBufferPointer) -> String? {
        let n = min(b.count, maxHeaderBytes)
        var i = 0
        // Header lines start after a LF.
        while i < n {
            guard b[i] == UInt8(ascii: "\n") else { i += 1; continue }
            let start = i + 1
            if start < n && (b[start] == UInt8(ascii: "\r") || b[start] == UInt8(ascii: "\n")) { return nil }  // end of head
            if start + 5 <= n && b[start] | 0x20 == UInt8(ascii: "h") && b[start + 1] | 0x20 == UInt8(ascii: "o")
                && b[start + 2] | 0x20 == UInt8(ascii: "s") && b[start + 3] | 0x20 == UInt8(ascii: "t")
                && b[start + 4] | 0x20 == UInt8(ascii: ":") {
                var j = start + 5
                while j < n && (b[j] == UInt8(ascii: " ") || b[j] == UInt8(ascii: "\t")) { j += 1 }
                let valueStart = j
                while j < n && b[j] != UInt8(ascii: "\r") && b[j] != UInt8(ascii: "\n") && j - valueStart < 255 {
                    guard b[j] > 0x20 && b[j] < 0x7f else { return nil }
                    j += 1
                }
                return j == valueStart ? nil : String(decoding: UnsafeRawBufferPointer(rebasing: b[valueStart..<j]), as: UTF8.self)
            }
            i = start
        }
        return nil
    }

    /// The server name of a ClientHello whose record is cut short, when the bytes reach it.
    static func partialSNI(_ b: UnsafeRawBufferPointer) -> String? {
        var c = ByteCursor(b)
        guard c.skip(5), c.u8() == 1, c.skip(3), c.skip(2 + 32),
              let sid = c.u8(), c.skip(Int(sid)), let cs = c.u16(), c.skip(Int(cs)),
              let cm = c.u8(), c.skip(Int(cm)), c.u16() != nil else { return nil }
        while let type = c.u16(), let len = c.u16() {
            guard let data = c.slice(Int(len)) else { return nil }
            guard type == 0 else { continue }
            var s = ByteCursor(data)
            guard s.u16() != nil, s.u8() == 0, let nl = s.u16(), let name = s.slice(Int(nl)), !name.isEmpty,
                  name.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
            return String(decoding: name, as: UTF8.self)
        }
        return nil
    }

    /// Up to 16 bytes: quoted when printable, else hex.
    static func preview(_ b: UnsafeRawBufferPointer) -> String {
        let head = b.prefix(16)
        if !head.isEmpty && head.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
            return "\"" + String(decoding: head, as: UTF8.self) + "\"" + (b.count > 16 ? "…" : "")
        }
        let hex = "0123456789abcdef".map { $0 }
        return head.map { String([hex[Int($0 >> 4)], hex[Int($0 & 0x0f)]]) }.joined(separator: " ") + (b.count > 16 ? " …" : "")
    }
}

extension TLSConnectionRecord {
    /// The client's first data (every segment of the connection comes here; only the first with
    /// payload is kept, classified).
    public func clientData(_ payload: UnsafeRawBufferPointer, frame: UInt64, ts: Timestamp) {
        guard firstClientData == nil, payload.count > 0 else { return }
        firstClientData = (frame, ts, FirstBytesClassifier.classify(payload))
    }

    public var hasFirstClientData: Bool { firstClientData != nil }

    /// After the client's first data: a reset, a FIN, the server's data or enough packets decide
    /// whether a reset was injected; the connection need not be followed further for that.
    public var resetWatchIsOver: Bool {
        guard let first = firstClientData else { return false }
        return serverDataAfterClientData != nil || segmentsSinceClientData >= 16
            || resets.contains { $0.frame > first.frame } || fins.contains { $0.frame > first.frame }
    }
}

extension TLSConnectionTracker {
    /// A connection with client data but no ClientHello: resets right after that data (before the
    /// server sent any) whose IP TTL / IP ID do not fit the side they claim to come from were
    /// injected (`FindingPolicy.tcpResetInjection`); a reset that fits is the endpoint's own.
    func resetInjectionFinding(_ r: TLSConnectionRecord, first: (frame: UInt64, ts: Timestamp, seen: FirstBytesSeen)) -> Finding? {
        let cutoff = r.serverDataAfterClientData ?? UInt64.max
        let resets = r.resets.filter { $0.frame > first.frame && $0.frame < cutoff }
        guard !resets.isEmpty else { return nil }
        var marks: [String] = []
        var described: [String] = []
        var facts: [(String, SubjectValue)] = [("time", .string(first.ts.description)),
                                               ("client", .string(r.client.description)), ("client_port", .int(Int(r.clientPort))),
                                               ("first_data", .string(first.seen.text))]
        for (i, p) in resets.prefix(4).enumerated() {
            let m = injectionMarks(r, p)
            marks += m
            described.append("RST \(p.fromClient ? "from the client's address" : "from the server's address") \(ms(p.ts.nanoseconds(since: first.ts))) after it, "
                + "IP TTL \(p.ttl), IP ID \(p.ipID)" + (m.isEmpty ? "" : " (" + m.joined(separator: "; ") + ")"))
            facts.append(("reset\(i + 1)_from", .string(p.fromClient ? "client" : "server")))
            facts.append(("reset\(i + 1)_ip_ttl", .int(Int(p.ttl))))
            facts.append(("reset\(i + 1)_ip_id", .int(Int(p.ipID))))
        }
        if let s = r.synAck { facts.append(("server_synack_ip_ttl", .int(Int(s.ttl)))); facts.append(("server_synack_ip_id", .int(Int(s.ipID)))) }
        if let s = r.syn { facts.append(("client_syn_ip_ttl", .int(Int(s.ttl)))); facts.append(("client_syn_ip_id", .int(Int(s.ipID)))) }
        return FindingPolicy.tcpResetInjection(
            TCPResetInjectionEvidence(server: r.server.description, port: Int(r.serverPort), seen: first.seen, injectedMarks: marks),
            evidence: [Evidence(source: .capture, input: inputName(r.input), frames: [first.frame] + resets.prefix(4).map(\.frame),
                                detail: "client port \(r.clientPort) sent \(first.seen.text); " + described.joined(separator: "; ")
                                    + " — likely injected by a middlebox", facts: facts)])
    }
}
