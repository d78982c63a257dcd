import AnswerComparison
import DNSWire
import NetTypes

/// What the local path answered in a capture, per distinct (qname, qtype, resolver, transport,
/// answer): the first response with that answer, who answered it and where it is in the capture.
/// The input of `analyze --reference`. A forged answer is compared even when an honest answer to
/// the same name (from another resolver, over the other transport, or to another client of the
/// same resolver) came first. Bounded: answers beyond `maxNames` are counted, not kept.
public struct CapturedAnswer: Sendable {
    public var qname: String
    public var qtype: UInt16
    public var answer: AnswerSet
    public var resolver: IPAddress
    /// `udp` or `tcp`.
    public var transport: String
    public var client: IPAddress
    public var frame: UInt64
    public var input: Int
    /// Responses seen with this answer for this (qname, qtype, resolver, transport).
    public var responses: Int
    /// The first such response's time (evidence `time`).
    public var ts: Timestamp = .zero
}

public struct CapturedAnswers: Sendable {
    /// The types compared with references: addresses (and, through rcode, any name's existence), and HTTPS/SVCB records (their parameters).
    public static let comparedTypes: Set<UInt16> = [DNSType.a, DNSType.aaaa, DNSType.https, DNSType.svcb]

    public let maxNames: Int
    public private(set) var answers: [String: CapturedAnswer] = [:]
    public private(set) var order: [String] = []
    public private(set) var overflow = 0
    /// Queries already answered (their first response kept), bounded by `maxTransactions`.
    private var answeredTransactions = Set<String>()
    static let maxTransactions = 100_000

    public init(maxNames: Int = 20_000) {
        self.maxNames = maxNames
    }

    /// A response from the capture (already parsed). Queries, mDNS/LLMNR, non-IN classes,
    /// reverse lookups and names without a dot are skipped: references cannot judge them.
    public mutating func add(_ m: DNSMessage, resolver: IPAddress, client: IPAddress, clientPort: UInt16 = 0,
                             transport: TransportProtocol = .udp, frame: UInt64, input: Int, ts: Timestamp = .zero) {
        guard m.qr, m.opcode == 0, let q = m.questions.first, q.qclass == DNSClass.in,
              Self.comparedTypes.contains(q.type) else { return }
        guard m.rcode == 0 || m.rcode == 2 || m.rcode == 3 || m.rcode == 5 else { return }
        guard !m.tc, !m.truncated else { return }
        let name = q.name.lowercased()
        guard Self.isPublicName(name) else { return }
        // The answer a client used is the first response to its query; later ones to the same
        // query (an injector racing the resolver) are dns.injection's evidence, not the path's answer.
        let transaction = "\(client)|\(clientPort)|\(resolver)|\(transport.name)|\(m.id)|\(name)|\(q.type)"
        if answeredTransactions.contains(transaction) { return }
        if answeredTransactions.count >= Self.maxTransactions { answeredTransactions.removeAll(keepingCapacity: true) }
        answeredTransactions.insert(transaction)
        let answer = AnswerSet(message: m)
        let key = "\(name)|\(q.type)|\(resolver)|\(transport.name)|\(answer.rcode)|\(answer.addresses.sorted().joined(separator: ","))|\(answer.cnames.joined(separator: ","))"
            + (answer.services.isEmpty ? "" : "|" + answer.services.map(\.summary).joined(separator: ";"))
        if let i = answers.index(forKey: key) {
            answers.values[i].responses += 1
            return
        }
        guard answers.count < maxNames else {
            overflow += 1
            return
        }
        answers[key] = CapturedAnswer(qname: name, qtype: q.type, answer: answer, resolver: resolver, transport: transport.name,
                                      client: client, frame: frame, input: input, responses: 1, ts: ts)
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
