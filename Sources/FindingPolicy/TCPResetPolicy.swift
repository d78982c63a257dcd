import Findings

// MARK: - tcp.reset-injection

/// What the client's first data segment on a TCP connection showed (the protocol seen).
public enum FirstBytesSeen: Sendable, Equatable {
    /// An HTTP/1.x request: its method and `Host` header (nil when it has none in the first bytes).
    case http(method: String, host: String?)
    /// A TLS record whose ClientHello was not decoded whole; its server name when the first bytes held it.
    case tls(sni: String?)
    /// Anything else: the first bytes, as printable text or hex.
    case raw(preview: String)

    /// "HTTP Host example.com", "TLS SNI example.com", "raw bytes 16 03 …".
    public var text: String {
        switch self {
        case .http(let m, let h): return "HTTP \(m)" + (h.map { " Host \($0)" } ?? " (no Host)")
        case .tls(let sni): return "TLS" + (sni.map { " SNI \($0)" } ?? " (no SNI decoded)")
        case .raw(let p): return "raw bytes \(p)"
        }
    }
}

/// A TCP connection (not a TLS handshake the TLS policies judge) reset right after the client's
/// first data segment by a RST whose IP TTL / IP ID do not fit the side it claims to come from.
public struct TCPResetInjectionEvidence: Sendable, Equatable {
    public var server: String
    public var port: Int
    public var seen: FirstBytesSeen
    /// Why the reset looks injected (IP TTL / IP ID against the SYN-ACK or the client's SYN): not empty.
    public var injectedMarks: [String]

    public init(server: String, port: Int, seen: FirstBytesSeen, injectedMarks: [String]) {
        self.server = server
        self.port = port
        self.seen = seen
        self.injectedMarks = injectedMarks
    }
}

extension FindingPolicy {
    /// `tcp.reset-injection`: high / likely — a reset that the server did not send, right after the
    /// client said what it wanted, is how on-path censors (the GFW, ISP middleboxes) cut connections
    /// by content. Nil without an injection mark: a reset with the server's own TTL is the server's.
    public static func tcpResetInjection(_ e: TCPResetInjectionEvidence, evidence: [Evidence]) -> Finding? {
        guard !e.injectedMarks.isEmpty else { return nil }
        var subject: [(String, SubjectValue)] = [("server", .string(e.server)), ("port", .int(e.port)), ("transport", .string("tcp"))]
        switch e.seen {
        case .http(_, let host):
            subject.append(("protocol", .string("http")))
            if let host { subject.append(("host", .string(host))) }
        case .tls(let sni):
            subject.append(("protocol", .string("tls")))
            if let sni { subject.append(("sni", .string(sni))) }
        case .raw:
            subject.append(("protocol", .string("raw")))
        }
        return Finding(
            kind: FindingKind.tcpResetInjection, severity: .high, confidence: .likely,
            title: "TCP to \(e.server):\(e.port) (\(e.seen.text)) was reset right after the client's first data: the reset looks injected",
            subject: subject, evidence: evidence,
            remediation: "A middlebox on the path resets connections by what the client sends. Compare with another network or a VPN; report it to the network operator.")
    }
}
