import DNSWire
import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One resolver, any transport: builds the query, exchanges it, parses and checks the answer.
public final class ResolverClient: Sendable {
    public let endpoint: ResolverEndpoint
    enum Backend: Sendable {
        case doh(DoHClient)
        case stream(StreamDNSClient)
        case datagram(DatagramDNSClient, StreamDNSClient)
        case doq(DoQClient)
        case doh3(DoH3Client)
    }
    let backend: Backend

    public init(endpoint: ResolverEndpoint, settings: ClientSettings, group: any EventLoopGroup) throws {
        self.endpoint = endpoint
        switch endpoint.transport {
        case .doh: backend = .doh(DoHClient(endpoint: endpoint, settings: settings, group: group))
        case .doq: backend = .doq(DoQClient(endpoint: endpoint, settings: settings))
        case .doh3: backend = .doh3(DoH3Client(endpoint: endpoint, settings: settings))
        case .dot, .tcp: backend = .stream(try StreamDNSClient(endpoint: endpoint, settings: settings, group: group))
        case .udp:
            var tcpEndpoint = endpoint
            tcpEndpoint.transport = .tcp
            backend = .datagram(DatagramDNSClient(endpoint: endpoint, settings: settings, group: group),
                                try StreamDNSClient(endpoint: tcpEndpoint, settings: settings, group: group))
        }
    }

    /// Sends `query` (wire bytes) and returns the raw answer.
    public func exchange(_ query: [UInt8]) async throws -> [UInt8] {
        switch backend {
        case .doh(let c): return try await c.exchange(query)
        case .stream(let c): return try await c.exchange(query)
        case .doq(let c): return try await c.exchange(query)
        case .doh3(let c): return try await c.exchange(query)
        case .datagram(let udp, let tcp):
            let answer = try await udp.exchange(query)
            if answer.count > 2, answer[2] & 0x02 != 0 { return try await tcp.exchange(query) }  // TC: retry over TCP
            return answer
        }
    }

    /// A query for (name, type, class); the answer must echo the id and the question.
    public func query(_ name: String, type: UInt16, qclass: UInt16 = DNSClass.in, dnssecOK: Bool = false,
                      requestNSID: Bool = false, recursionDesired: Bool = true) async throws -> DNSMessage {
        let id = UInt16.random(in: 1...UInt16.max)
        let edns: (udpSize: UInt16, dnssecOK: Bool, requestNSID: Bool) = (1232, dnssecOK, requestNSID)
        let q: [UInt8]
        do {
            q = try DNSQuery.make(id: id, name: name, type: type, qclass: qclass, recursionDesired: recursionDesired, edns: edns)
        } catch {
            throw ResolverError.other("cannot encode '\(name)': \(error)")
        }
        let answer = try await exchange(q)
        return try Self.check(answer, id: id, name: name, type: type, qclass: qclass)
    }

    /// A query with Hold-On (plain UDP only): the first answer, and every later answer to the same
    /// query heard within a window derived from the first answer's RTT. Other transports (and a
    /// truncated UDP answer retried over TCP) give one answer and no later ones.
    public func queryHoldingOn(_ name: String, type: UInt16) async throws -> HeldQuery {
        guard case .datagram(let udp, let tcp) = backend else {
            return HeldQuery(first: try await query(name, type: type), firstMilliseconds: 0, later: [], windowMilliseconds: 0)
        }
        let id = UInt16.random(in: 1...UInt16.max)
        let q: [UInt8]
        do {
            q = try DNSQuery.make(id: id, name: name, type: type, qclass: DNSClass.in, recursionDesired: true, edns: (1232, false, false))
        } catch {
            throw ResolverError.other("cannot encode '\(name)': \(error)")
        }
        let held = try await udp.exchangeHoldingOn(q, window: { [udp] rtt in udp.holdOnWindow(afterFirstAnswerIn: rtt) })
        let first = held.answers[0]
        if first.bytes.count > 2, first.bytes[2] & 0x02 != 0 {
            let answer = try await tcp.exchange(q)
            return HeldQuery(first: try Self.check(answer, id: id, name: name, type: type, qclass: DNSClass.in),
                             firstMilliseconds: first.milliseconds, later: [], windowMilliseconds: 0)
        }
        let m = try Self.check(first.bytes, id: id, name: name, type: type, qclass: DNSClass.in)
        var later: [(message: DNSMessage, milliseconds: Double)] = []
        for a in held.answers.dropFirst() {
            if let lm = try? Self.check(a.bytes, id: id, name: name, type: type, qclass: DNSClass.in) { later.append((lm, a.milliseconds)) }
        }
        return HeldQuery(first: m, firstMilliseconds: first.milliseconds, later: later, windowMilliseconds: held.windowMilliseconds)
    }

    /// Parses an answer and checks it answers the question asked.
    static func check(_ answer: [UInt8], id: UInt16, name: String, type: UInt16, qclass: UInt16) throws -> DNSMessage {
        let m: DNSMessage
        switch DNSMessage.parse(answer) {
        case .success(let parsed): m = parsed
        case .failure(let e): throw ResolverError.badResponse("unparseable: \(e)")
        }
        guard m.qr else { throw ResolverError.badResponse("not a response") }
        guard m.id == id else { throw ResolverError.badResponse("wrong id") }
        guard !m.truncated else { throw ResolverError.badResponse("truncated message") }
        guard !m.tc else { throw ResolverError.badResponse("truncated (TC) answer") }
        if m.rcode != DNSRCode.formErr && m.rcode != DNSRCode.notImp {
            guard let question = m.questions.first else { throw ResolverError.badResponse("no question") }
            guard question.type == type, question.qclass == qclass,
                  question.name.lowercased().trimmingDot == name.lowercased().trimmingDot else {
                throw ResolverError.badResponse("answer for another question")
            }
        }
        return m
    }

    public func close() async {
        switch backend {
        case .doh(let c): await c.shutdown()
        case .stream(let c): await c.close()
        case .datagram(_, let t): await t.close()
        case .doq, .doh3: break  // one connection per exchange
        }
    }
}

/// The answers to one query under Hold-On.
public struct HeldQuery: Sendable {
    public var first: DNSMessage
    public var firstMilliseconds: Double
    /// Answers that followed the first within the window (retransmitted duplicates included).
    public var later: [(message: DNSMessage, milliseconds: Double)]
    public var windowMilliseconds: Double
}

extension String {
    var trimmingDot: Substring { hasSuffix(".") ? dropLast() : Substring(self) }
}

/// The outcome of asking one reference: an answer or why there is none.
public enum ReferenceOutcome: Sendable {
    case answer(DNSMessage)
    case unavailable(ResolverError)

    public var message: DNSMessage? {
        if case .answer(let m) = self { return m }
        return nil
    }
}

/// Several references, asked in parallel for each question, with a cache by (qname, qtype, qclass)
/// and at most `maxConcurrent` questions in flight.
public final class ReferenceSet: Sendable {
    public let clients: [ResolverClient]
    let cache = NIOLockedValueBox<[String: [ReferenceOutcome]]>([:])
    let limiter: AsyncLimiter

    public init(endpoints: [ResolverEndpoint], settings: ClientSettings, group: any EventLoopGroup, maxConcurrent: Int = 8) throws {
        clients = try endpoints.map { try ResolverClient(endpoint: $0, settings: settings, group: group) }
        limiter = AsyncLimiter(limit: maxConcurrent)
    }

    public var endpoints: [ResolverEndpoint] { clients.map(\.endpoint) }

    /// One outcome per reference, in reference order.
    public func lookup(_ name: String, type: UInt16, qclass: UInt16 = DNSClass.in, dnssecOK: Bool = false) async -> [ReferenceOutcome] {
        let key = "\(name.lowercased().trimmingDot)|\(type)|\(qclass)|\(dnssecOK)"
        if let hit = cache.withLockedValue({ $0[key] }) { return hit }
        await limiter.acquire()
        let outcomes = await withTaskGroup(of: (Int, ReferenceOutcome).self) { group in
            for (i, c) in clients.enumerated() {
                group.addTask {
                    do {
                        return (i, .answer(try await c.query(name, type: type, qclass: qclass, dnssecOK: dnssecOK)))
                    } catch {
                        return (i, .unavailable(ResolverError.classify(error)))
                    }
                }
            }
            var out = [ReferenceOutcome](repeating: .unavailable(.timeout), count: clients.count)
            for await (i, o) in group { out[i] = o }
            return out
        }
        await limiter.release()
        cache.withLockedValue { c in
            if c.count < 100_000 { c[key] = outcomes }
        }
        return outcomes
    }

    public func close() async {
        for c in clients { await c.close() }
    }
}

/// A counting semaphore for async code (FIFO waiters).
public actor AsyncLimiter {
    let limit: Int
    var inUse = 0
    var waiters: [CheckedContinuation<Void, Never>] = []

    public init(limit: Int) { self.limit = max(1, limit) }

    public func acquire() async {
        if inUse < limit {
            inUse += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func release() {
        if waiters.isEmpty {
            inUse -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

/// Runs async work from synchronous code (the CLI's main thread, never a concurrency-pool thread).
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = NIOLockedValueBox<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            let v = try await body()
            box.withLockedValue { $0 = .success(v) }
        } catch {
            box.withLockedValue { $0 = .failure(error) }
        }
        done.signal()
    }
    done.wait()
    guard let r = box.withLockedValue({ $0 }) else { throw ResolverError.other("no result") }
    return try r.get()
}

/// The process-wide event loops.
public enum ResolverEventLoops {
    public static var shared: any EventLoopGroup { MultiThreadedEventLoopGroup.singleton }
}
