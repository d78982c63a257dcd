import AnswerComparison
import DNSWire
import NetTypes

/// What the local path answered in a capture, per distinct (qname, qtype): the first response
/// seen, who answered it and where it is in the capture. The input of `analyze --reference`.
/// Bounded: names beyond `maxNames` are counted, not kept.
public struct CapturedAnswer: Sendable {
    public var qname: String
    public var qtype: UInt16
    public var answer: AnswerSet
    public var resolver: IPAddress
    public var client: IPAddress
    public var frame: UInt64
    public var input: Int
    /// Responses seen for this (qname, qtype).
    public var responses: Int
}

public struct CapturedAnswers: Sendable {
    /// The types compared with references: addresses (and, through rcode, any name's existence).
    public static let comparedTypes: Set<UInt16> = [DNSType.a, DNSType.aaaa]

    public let maxNames: Int
    public private(set) var answers: [String: CapturedAnswer] = [:]
    public private(set) var order: [String] = []
    public private(set) var overflow = 0

    public init(maxNames: Int = 20_000) {
        self.maxNames = maxNames
    }

    /// A response from the capture (already parsed). Queries, mDNS/LLMNR, non-IN classes,
    /// reverse lookups and names without a dot are skipped: references cannot judge them.
    public mutating func add(_ m: DNSMessage, resolver: IPAddress, client: IPAddress, frame: UInt64, input: Int) {
        guard m.qr, m.opcode == 0, let q = m.questions.first, q.qclass == DNSClass.in,
              Self.comparedTypes.contains(q.type) else { return }
        guard m.rcode == 0 || m.rcode == 2 || m.rcode == 3 || m.rcode == 5 else { return }
        guard !m.tc, !m.truncated else { return }
        let name = q.name.lowercased()
        guard Self.isPublicName(name) else { return }
        let key = "\(name)|\(q.type)"
        if let i = answers.index(forKey: key) {
            answers.values[i].responses += 1
            return
        }
        guard answers.count < maxNames else {
            overflow += 1
            return
        }
        answers[key] = CapturedAnswer(qname: name, qtype: q.type, answer: AnswerSet(message: m), resolver: resolver,
                                      client: client, frame: frame, input: input, responses: 1)
        order.append(key)
    }

    /// In capture order.
    public var inOrder: [CapturedAnswer] { order.compactMap { answers[$0] } }

    /// Names a public reference can answer: at least two labels, not reverse-DNS, not local-use.
    public static func isPublicName(_ name: String) -> Bool {
        let n = name.hasSuffix(".") ? String(name.dropLast()) : name
        guard n.contains("."), !n.hasPrefix("_") else { return false }
        for suffix in [".in-addr.arpa", ".ip6.arpa", ".local", ".localhost", ".internal", ".home.arpa", ".lan", ".home", ".corp"]
        where n.hasSuffix(suffix) {
            return false
        }
        return true
    }
}
