import DNSWire
import FindingPolicy
import Findings
import FlowTable
import NetTypes

/// Where and how one DNS message was seen.
public struct DNSObservation {
    public var frame: UInt64
    public var ts: Timestamp
    public var src: IPAddress
    public var dst: IPAddress
    public var sport: UInt16
    public var dport: UInt16
    public var transport: TransportProtocol
    public var ipTTL: UInt8
    public var ipID: UInt32
    /// Index of the input (capture file) the message came from.
    public var input: Int
    /// DNS carried by another protocol on its own port (cleartext DoH on 80): paired and judged
    /// although neither port is 53.
    public var carried = false
    /// Plain DNS recognised on another port (by content, or a `--dns-port` hint): paired and
    /// judged like port 53 (issue 17 item 2).
    public var otherPort = false

    public init(frame: UInt64, ts: Timestamp, src: IPAddress, dst: IPAddress, sport: UInt16, dport: UInt16,
                transport: TransportProtocol, ipTTL: UInt8, ipID: UInt32, input: Int = 0) {
        self.frame = frame
        self.ts = ts
        self.src = src
        self.dst = dst
        self.sport = sport
        self.dport = dport
        self.transport = transport
        self.ipTTL = ipTTL
        self.ipID = ipID
        self.input = input
    }
}

/// Pairs DNS queries with responses (flow + transaction id + question), measures RTT, counts
/// unanswered queries, and detects `dns.injection` and `dns.unsolicited-response`.
///
/// After Hold-On (Duan, Weaver et al.): once a query is answered we keep listening for a late
/// window; a second response with *different* answers is injection evidence, and the IP TTL
/// and arrival time of each response are compared with what the resolver normally shows.
/// Identical duplicates (retransmissions) are counted, never reported.
public final class DNSTransactionTracker {
    public struct Limits: Sendable {
        /// A query with no response after this long is unanswered.
        public var queryTimeoutNanoseconds: Int64 = 10_000_000_000
        /// After the first response, keep listening this long for a second one.
        public var lateWindowNanoseconds: Int64 = 5_000_000_000
        /// Open transactions kept at most (oldest evicted and counted).
        public var maxOpenTransactions = 200_000
        /// Evidence items kept per finding (the rest are counted).
        public var maxEvidencePerFinding = 8
        /// Responses within this long of the start of a capture may answer queries sent before it.
        public var captureStartGraceNanoseconds: Int64 = 1_000_000_000
        /// A response to a query that timed out unanswered (same flow, id and question) within
        /// this long of the timeout is late, not unsolicited: resolvers answer SERVFAIL after their
        /// own upstream timeouts, often past 10 s.
        public var lateAnswerNanoseconds: Int64 = 60_000_000_000
        /// Unanswered queries remembered for late answers, at most (oldest forgotten).
        public var maxRememberedUnanswered = 65_536
        public init() {}
    }

    public struct Stats: Sendable {
        public var queries = 0
        public var responses = 0
        public var transactions = 0          // queries that got at least one response
        public var unanswered = 0
        public var retransmittedQueries = 0
        public var duplicateResponses = 0    // identical extra responses (not injection)
        public var conflictingResponses = 0  // extra responses with different answers
        public var unsolicitedResponses = 0
        public var evictedTransactions = 0
        /// Responses to queries that had already timed out unanswered (not unsolicited).
        public var lateResponses = 0
    }

    struct Key: FlowTableKey {
        var client: IPAddress
        var server: IPAddress
        var clientPort: UInt16
        var serverPort: UInt16
        var id: UInt16
        var proto: TransportProtocol
        var questionHash: UInt64

        init(client: IPAddress, server: IPAddress, clientPort: UInt16, serverPort: UInt16, id: UInt16,
             proto: TransportProtocol, questionHash: UInt64) {
            self.client = client
            self.server = server
            self.clientPort = clientPort
            self.serverPort = serverPort
            self.id = id
            self.proto = proto
            self.questionHash = questionHash
        }

        /// The query flow (client endpoint → server endpoint) alone.
        @inline(__always)
        var flowMix: UInt64 {
            DNSTransactionTracker.flowMix(client: client, server: server, clientPort: clientPort, serverPort: serverPort)
        }

        /// Computed when needed rather than stored: the table keeps a tag of it in its index,
        /// and 8 bytes less per open transaction adds up to megabytes.
        @inline(__always)
        var tableHash: UInt64 {
            flowMix ^ (questionHash &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(id) << 40 | UInt64(proto.rawValue) << 32)
        }

        static func == (a: Key, b: Key) -> Bool {
            a.id == b.id && a.clientPort == b.clientPort && a.serverPort == b.serverPort
                && a.questionHash == b.questionHash && a.proto == b.proto && a.client == b.client && a.server == b.server
        }
    }

    /// A 64-bit mix of a query flow (client endpoint → server endpoint).
    @inline(__always)
    static func flowMix(client: IPAddress, server: IPAddress, clientPort: UInt16, serverPort: UInt16) -> UInt64 {
        var x = client.hi &* 0xff51_afd7_ed55_8ccd ^ client.lo
        x = (x ^ (x >> 29)) &* 0xc4ce_b9fe_1a85_ec53 ^ server.hi
        x = (x ^ (x >> 31)) &* 0x9E37_79B9_7F4A_7C15 ^ server.lo
        x = (x ^ (x >> 29)) &* 0xbf58_476d_1ce4_e5b9 ^ (UInt64(clientPort) << 16 | UInt64(serverPort))
        return x ^ (x >> 32)
    }

    /// One response to an open transaction: plain data (no reference counting in the table),
    /// fields ordered for a small layout (open transactions are the largest table).
    struct Response {
        var frame: UInt64
        var ts: Timestamp
        var digest: UInt64
        /// Where the raw message sits in the arena while it may become evidence.
        var arena: ByteArena.Ref = .none
        var ipID: UInt32
        var ipTTL: UInt8
    }

    /// A response kept as evidence, with its message.
    struct KeptResponse {
        var response: Response
        /// The raw message (empty when it had already left the arena).
        var raw: [UInt8]
    }

    struct Transaction {
        var queryTS: Timestamp
        var lastQueryTS: Timestamp
        var queryFrame: UInt64
        /// The first response inline; further ones (rare) wait in `extras` under `serial`.
        var first: Response?
        var queryCount: UInt32
        var input: Int32
        var serial: UInt32
        var hasExtra = false
    }

    /// Later responses of a transaction (duplicates and conflicts; rare), and the raw messages of
    /// conflicting ones.
    struct Extra {
        var responses: [Response] = []
        var raws: [Int: [UInt8]] = [:]  // by position in `responses`
        var firstRaw: [UInt8] = []
        /// The first response was taken back out of the baselines.
        var raced = false
    }

    /// Evidence gathered for one injection finding, rendered at the end when baselines are known.
    struct InjectionCase {
        var key: Key
        var query: Transaction
        var responses: [KeptResponse]
    }

    public let limits: Limits
    public private(set) var stats = Stats()
    private let open: FlowTable<Key, Transaction>
    private var extras: [UInt32: Extra] = [:]
    private var nextSerial: UInt32 = 0
    /// Queries that timed out unanswered (their transaction key's hash → when), for late answers;
    /// `unansweredOrder` bounds it, oldest first.
    private var unansweredKeys: [UInt64: Timestamp] = [:]
    private var unansweredOrder: [UInt64] = []
    private var unansweredHead = 0
    /// Recent first responses, for evidence if a different second response follows.
    private let arena = ByteArena(capacity: 4 << 20)
    /// Open transactions in creation order with the time to look at them again: sweeping pops
    /// from the front instead of scanning the whole table.
    private var expiry: [(handle: FlowTableHandle, due: Timestamp)] = []
    private var expiryHead = 0
    private var lastSweep: Timestamp?
    /// Per input: the first timestamp seen.
    private var captureStart: [Timestamp?] = []
    private var injectionCases: [InjectionCase] = []
    private var unsolicited: [(obs: DNSObservation, raw: [UInt8])] = []
    private var unsolicitedCount: [String: Int] = [:]
    /// Responses on flows where no query was seen at all (one-way or partial captures).
    private var orphans: [(obs: DNSObservation, raw: [UInt8])] = []
    private var orphanCount = 0
    /// When each query flow last asked (flow mix → time), for telling wrong-txid responses from
    /// responses on flows that never asked.
    private let recentFlows: RecentFlows
    /// Per resolver (server address): IP TTL histogram and a sample of RTTs, for baselines.
    /// A value in a table changed in place (no object to retain per response).
    struct Baseline {
        var ttlCounts = [Int](repeating: 0, count: 256)
        var rtts: [Int64] = []
        /// Where each RTT sample came from (input << 40 | frame), so that flow-sharded workers'
        /// samples can be merged into the ones a single tracker keeps (`shareBaselines`).
        var orders: [UInt64] = []
        var n = 0
    }
    private let baselines = FlowTable<IPAddress, Baseline>(minimumCapacity: 16)
    /// First responses of transactions that later got a different answer: they may be forged, so
    /// they establish no baseline (taken back out of `baselines` when a finding is written).
    private var racedFirsts: [IPAddress: [(ttl: UInt8, rtt: Int64)]] = [:]
    /// The entry of the resolver of the previous response (entries are never removed).
    private var lastBaselineEntry = -1
    private var lastBaselineServer = IPAddress(v4: 0)
    private let resolverTable = FlowTable<IPAddress, Void>(minimumCapacity: 16)
    /// Resolvers asked (servers of queries), at most 4096.
    public var resolvers: Set<IPAddress> { Set(resolverTable.pairs.map(\.key)) }
    /// Addresses that sent DNS responses from port 53 in the capture (at most 4096).
    public var answeringResolvers: Set<IPAddress> { Set(responderTable.pairs.map(\.key)) }
    private let responderTable = FlowTable<IPAddress, Void>(minimumCapacity: 16)
    private var lastResponder = IPAddress(v4: 0)
    private let inputName: (Int) -> String?
    /// Live mode: keep each finding as soon as it is decided, for `drainDecidedFindings()`.
    /// Off by default (offline analysis builds findings once, in `finish()`).
    public var streamsDecisions = false
    private var decided: [Finding] = []
    /// Cache-poisoning exposure (source port / txid randomness) and sprays (PoisoningMonitor.swift).
    let poisoning = PoisoningMonitor()
    /// AD claimed without the RRSIGs a DO query must get (DNSSECStripMonitor.swift).
    let dnssecStrip = DNSSECStripMonitor()
    /// A flow-sharded worker's log of every UDP query per querier, for merging the queriers'
    /// exposure figures in capture order (ShardMerge.swift); nil on a single core.
    var querierLog: QuerierLog?

    public init(limits: Limits = Limits(), inputName: @escaping (Int) -> String? = { _ in nil }) {
        self.limits = limits
        self.inputName = inputName
        // Bounded tables: reserve their entries up front (touched only as used; see FlowTable).
        let cap = max(1, limits.maxOpenTransactions) + 1
        open = FlowTable(minimumCapacity: 1024, reservedCapacity: cap)
        recentFlows = RecentFlows(expectedFlows: cap)
        expiry.reserveCapacity(min(cap, 1 << 16))
    }

    public var openTransactions: Int { open.count }

    /// Findings decided since the last call (only with `streamsDecisions`): an injection when the
    /// second, different answer arrives; an unsolicited response the first time its flow shows one.
    /// They are previews built from what is known so far; `finish()` still returns the full findings.
    public func drainDecidedFindings() -> [Finding] {
        guard !decided.isEmpty else { return [] }
        defer { decided.removeAll() }
        return decided
    }

    /// Retires transactions whose windows have passed by `now` (capture time), even when no DNS
    /// arrives: live capture calls this periodically so the table follows the clock.
    public func expire(now: Timestamp) {
        sweepIfDue(now: now)
    }

    /// Ports whose traffic is unicast DNS that must pair (mDNS and LLMNR multicast answers are not).
    @inlinable
    public static func isUnicastDNSPort(_ p: UInt16) -> Bool { p == 53 }

    /// The first step of observing a query (`DNSSummary.isQuery`), for a caller that can take it
    /// before summarizing the query: it notes that the query's flow asked, which likely misses the
    /// caches, and the summary's work then overlaps with that wait. Pass `flowNoted: true` to
    /// `observe` afterwards.
    public func noteQueryFlow(_ obs: DNSObservation) {
        guard obs.carried || obs.otherPort || DNSTransactionTracker.isUnicastDNSPort(obs.dport) else { return }
        recentFlows.noteQuery(mix: DNSTransactionTracker.flowMix(client: obs.src, server: obs.dst, clientPort: obs.sport,
                                                                 serverPort: obs.dport), at: obs.ts)
    }

    /// Feeds one DNS message. `bytes` is the DNS message (without TCP length prefix); `flowNoted`:
    /// `noteQueryFlow` was already called for it.
    public func observe(_ obs: DNSObservation, bytes: UnsafeRawBufferPointer, summary s: DNSSummary,
                        flowNoted: Bool = false) {
        if obs.input >= captureStart.count {
            captureStart.append(contentsOf: repeatElement(nil, count: obs.input + 1 - captureStart.count))
        }
        if captureStart[obs.input] == nil { captureStart[obs.input] = obs.ts }
        sweepIfDue(now: obs.ts)
        let isResponse = s.flags & 0x8000 != 0
        if !isResponse {
            guard obs.carried || obs.otherPort || DNSTransactionTracker.isUnicastDNSPort(obs.dport) else { return }
            stats.queries += 1
            let key = Key(client: obs.src, server: obs.dst, clientPort: obs.sport, serverPort: obs.dport,
                          id: s.id, proto: obs.transport, questionHash: s.questionHash)
            if !flowNoted { recentFlows.noteQuery(mix: key.flowMix, at: obs.ts) }
            if obs.transport == .udp {
                poisoning.noteQuery(obs, summary: s, flowMix: key.flowMix, bytes: bytes)
                querierLog?.note(obs, summary: s, bytes: bytes)
            }
            let hash = open.hash(key)
            if let e = open.find(key, hash: hash) {
                if open[entry: e].queryCount < .max { open[entry: e].queryCount += 1 }
                open[entry: e].lastQueryTS = obs.ts
                stats.retransmittedQueries += 1
            } else {
                if open.count >= limits.maxOpenTransactions { evictOldest(now: obs.ts) }
                nextSerial &+= 1
                let e = open.insertNew(key, Transaction(queryTS: obs.ts, lastQueryTS: obs.ts, queryFrame: obs.frame,
                                                        queryCount: 1, input: Int32(truncatingIfNeeded: obs.input), serial: nextSerial),
                                       hash: hash)
                expiry.append((open.handle(ofEntry: e), obs.ts.adding(nanoseconds: limits.lateWindowNanoseconds)))
                if resolverTable.count < 4096 && !resolverTable.contains(obs.dst) { resolverTable.insertNew(obs.dst, ()) }
            }
            return
        }
        guard obs.carried || obs.otherPort || DNSTransactionTracker.isUnicastDNSPort(obs.sport) else { return }
        stats.responses += 1
        if s.flags & 0x0020 != 0 { dnssecStrip.noteResponse(obs, summary: s, bytes: bytes) }
        if obs.src != lastResponder {
            // Every address that answers DNS, paired or not (a redirect can hide the query).
            lastResponder = obs.src
            if responderTable.count < 4096 && !responderTable.contains(obs.src) { responderTable.insertNew(obs.src, ()) }
        }
        let key = Key(client: obs.dst, server: obs.src, clientPort: obs.dport, serverPort: obs.sport,
                      id: s.id, proto: obs.transport, questionHash: s.questionHash)
        guard let e = open.find(key) else {
            if let timedOut = unansweredKeys[key.tableHash], obs.ts.nanoseconds(since: timedOut) <= limits.lateAnswerNanoseconds {
                // The answer to a query that had timed out: late, not unsolicited.
                unansweredKeys[key.tableHash] = nil
                stats.lateResponses += 1
                stats.unanswered -= 1  // it was counted when it timed out
                return
            }
            // Responses with other ids for an outstanding query: past three, a spray (not unsolicited).
            if obs.transport == .udp, poisoning.noteStrayResponse(obs, summary: s, flowMix: key.flowMix, bytes: bytes) { return }
            recordUnsolicited(obs, bytes: bytes)
            return
        }
        var resp = Response(frame: obs.frame, ts: obs.ts, digest: s.answerDigest, ipID: obs.ipID, ipTTL: obs.ipTTL)
        guard let first = open[entry: e].first else {
            stats.transactions += 1
            resp.arena = arena.store(bytes)
            open[entry: e].first = resp
            learnBaseline(server: obs.src, ttl: obs.ipTTL, rtt: obs.ts.nanoseconds(since: open[entry: e].lastQueryTS),
                          order: UInt64(truncatingIfNeeded: obs.input) << 40 | obs.frame)
            return
        }
        let serial = open[entry: e].serial
        open[entry: e].hasExtra = true
        var extra = extras.removeValue(forKey: serial) ?? Extra()
        defer { extras[serial] = extra }
        if first.digest == resp.digest || extra.responses.contains(where: { $0.digest == resp.digest }) {
            stats.duplicateResponses += 1
            extra.responses.append(resp)
            return
        }
        // Two different answers: keep both messages as evidence.
        stats.conflictingResponses += 1
        if extra.firstRaw.isEmpty {
            if let raw = arena.fetch(first.arena) { extra.firstRaw = raw }
            if !extra.raced {
                // The first answer of a race may be the forged one: it is no baseline.
                extra.raced = true
                racedFirsts[obs.src, default: []].append((first.ipTTL, first.ts.nanoseconds(since: open[entry: e].lastQueryTS)))
            }
        }
        extra.raws[extra.responses.count] = Array(bytes)
        extra.responses.append(resp)
        if streamsDecisions {
            let t = open[entry: e]
            decided.append(injectionFinding(InjectionCase(key: key, query: t, responses: kept(t, extra))))
        }
    }

    /// The responses of a transaction with the raw messages kept for evidence.
    private func kept(_ t: Transaction, _ extra: Extra) -> [KeptResponse] {
        var out: [KeptResponse] = []
        if let f = t.first { out.append(KeptResponse(response: f, raw: extra.firstRaw)) }
        for (i, r) in extra.responses.enumerated() { out.append(KeptResponse(response: r, raw: extra.raws[i] ?? [])) }
        return out
    }

    private func learnBaseline(server: IPAddress, ttl: UInt8, rtt: Int64, order: UInt64) {
        let e: Int
        if lastBaselineEntry >= 0 && lastBaselineServer == server {
            e = lastBaselineEntry  // most responses come from the resolver of the previous one
        } else if let existing = baselines.find(server) {
            e = existing
        } else {
            guard baselines.count < 4096 else { return }
            e = baselines.insertNew(server, Baseline())
        }
        lastBaselineEntry = e
        lastBaselineServer = server
        baselines[entry: e].ttlCounts[Int(ttl)] += 1
        let n = baselines[entry: e].n
        if n < 256 {
            baselines[entry: e].rtts.append(rtt)
            baselines[entry: e].orders.append(order)
        } else {
            baselines[entry: e].rtts[n % 256] = rtt
            baselines[entry: e].orders[n % 256] = order
        }
        baselines[entry: e].n = n + 1
    }

    private func recordUnsolicited(_ obs: DNSObservation, bytes: UnsafeRawBufferPointer) {
        // A response right at the start of a capture may answer a query sent before it began.
        if obs.input < captureStart.count, let start = captureStart[obs.input],
           obs.ts.nanoseconds(since: start) < limits.captureStartGraceNanoseconds,
           !open.containsKey(where: { $0.client == obs.dst && $0.clientPort == obs.dport }) {
            return
        }
        stats.unsolicitedResponses += 1
        let mix = DNSTransactionTracker.flowMix(client: obs.dst, server: obs.src, clientPort: obs.dport, serverPort: obs.sport)
        guard let asked = recentFlows.lastQuery(mix: mix),
              obs.ts.nanoseconds(since: asked) <= limits.queryTimeoutNanoseconds else {
            // No query on this flow at all: most often a capture that misses one direction.
            orphanCount += 1
            if orphans.count < limits.maxEvidencePerFinding { orphans.append((obs, Array(bytes))) }
            if streamsDecisions && orphanCount == 1 { decided.append(orphanFinding()) }
            return
        }
        let group = "\(obs.src)|\(obs.dst)"
        let n = unsolicitedCount[group, default: 0]
        unsolicitedCount[group] = n + 1
        if n < limits.maxEvidencePerFinding { unsolicited.append((obs, Array(bytes))) }
        if streamsDecisions && n == 0 { decided.append(unsolicitedFinding(obs, raw: Array(bytes))) }
    }

    private func sweepIfDue(now: Timestamp) {
        guard let last = lastSweep else {
            lastSweep = now
            return
        }
        if now.nanoseconds(since: last) >= 1_000_000_000 || now < last {
            lastSweep = now
            sweep(now: now, all: false)
        }
    }

    /// When a transaction's window closes: late window after its first response, else query timeout.
    private func deadline(_ t: Transaction) -> Timestamp {
        if let first = t.first { return first.ts.adding(nanoseconds: limits.lateWindowNanoseconds) }
        return t.lastQueryTS.adding(nanoseconds: limits.queryTimeoutNanoseconds)
    }

    /// Retires transactions whose windows have passed, popping the expiry queue from the front.
    private func sweep(now: Timestamp, all: Bool) {
        if all {
            for e in open.entries { retire(open.key(ofEntry: e), open[entry: e]) }
            open.removeAll()
            extras.removeAll()
            expiry.removeAll()
            expiryHead = 0
            recentFlows.removeAll()
            return
        }
        var requeue: [(handle: FlowTableHandle, due: Timestamp)] = []
        while expiryHead < expiry.count, expiry[expiryHead].due <= now {
            let h = expiry[expiryHead].handle
            expiryHead += 1
            guard let e = open.entry(h) else { continue }  // already evicted
            let due = deadline(open[entry: e])
            if due <= now {
                let k = open.key(ofEntry: e)
                let t = open.remove(entry: e)
                retire(k, t)
            } else {
                requeue.append((h, due))  // re-asked or answered later: look again then
            }
        }
        compactExpiry()
        expiry.append(contentsOf: requeue)
    }

    /// Drops the consumed head of the queue once it dominates it.
    private func compactExpiry() {
        if expiryHead > 4096 && expiryHead * 2 > expiry.count {
            expiry.removeFirst(expiryHead)
            expiryHead = 0
        }
    }

    private func retire(_ k: Key, _ t: Transaction) {
        guard let first = t.first else {
            stats.unanswered += 1
            rememberUnanswered(k.tableHash, at: deadline(t))
            return
        }
        guard t.hasExtra, let extra = extras.removeValue(forKey: t.serial) else { return }
        if extra.responses.contains(where: { $0.digest != first.digest }) {
            injectionCases.append(InjectionCase(key: k, query: t, responses: kept(t, extra)))
        }
    }

    /// Remembers a query that timed out unanswered, for a late answer (bounded, oldest forgotten).
    private func rememberUnanswered(_ hash: UInt64, at ts: Timestamp) {
        if unansweredKeys.count >= limits.maxRememberedUnanswered {
            while unansweredHead < unansweredOrder.count {
                let old = unansweredOrder[unansweredHead]
                unansweredHead += 1
                if unansweredKeys.removeValue(forKey: old) != nil { break }
            }
            if unansweredHead > 4096 && unansweredHead * 2 > unansweredOrder.count {
                unansweredOrder.removeFirst(unansweredHead)
                unansweredHead = 0
            }
        }
        unansweredKeys[hash] = ts
        unansweredOrder.append(hash)
    }

    private func evictOldest(now: Timestamp) {
        sweep(now: now, all: false)
        guard open.count >= limits.maxOpenTransactions else { return }
        // Still full: retire the oldest eighth, in queue order (oldest first).
        var evicted = 0
        let target = max(1, open.count / 8)
        while evicted < target && expiryHead < expiry.count {
            let h = expiry[expiryHead].handle
            expiryHead += 1
            if let e = open.entry(h) {
                let k = open.key(ofEntry: e)
                let t = open.remove(entry: e)
                stats.evictedTransactions += 1
                retire(k, t)
                evicted += 1
            }
        }
        compactExpiry()
    }

    /// End of input: retire everything and build the findings.
    public func finish() -> [Finding] {
        sweep(now: .zero, all: true)
        var findings: [String: Finding] = [:]
        var order: [String] = []
        func add(_ f: Finding) {
            let id = f.id
            if var existing = findings[id] {
                if existing.evidence.count < limits.maxEvidencePerFinding {
                    existing.evidence.append(contentsOf: f.evidence)
                }
                findings[id] = existing
            } else {
                findings[id] = f
                order.append(id)
            }
        }
        for c in injectionCases { add(injectionFinding(c)) }
        for u in unsolicited where !poisoning.isSprayed(flowMix: DNSTransactionTracker.flowMix(
            client: u.obs.dst, server: u.obs.src, clientPort: u.obs.dport, serverPort: u.obs.sport)) {
            add(unsolicitedFinding(u.obs, raw: u.raw))
        }
        var result = order.compactMap { findings[$0] }
        result += poisoning.findings(answering: answeringResolvers, inputName: inputName)
        result += dnssecStrip.findings(inputName: inputName)
        if orphanCount > 0 { result.append(orphanFinding()) }
        return result
    }

    // MARK: - Findings

    /// The resolver's usual IP TTL: the most common one among its first responses, leaving out
    /// the first responses of races (which may be forged). Nil when nothing else established one.
    public func baselineTTL(_ server: IPAddress) -> UInt8? {
        guard var h = baselines[key: server]?.ttlCounts else { return nil }
        for r in racedFirsts[server] ?? [] where h[Int(r.ttl)] > 0 { h[Int(r.ttl)] -= 1 }
        // Most common; the lowest TTL among equals.
        var best = -1
        for ttl in 0..<256 where h[ttl] > 0 && (best < 0 || h[ttl] > h[best]) { best = ttl }
        return best < 0 ? nil : UInt8(best)
    }

    /// The resolver's median RTT over its first responses, races' first responses left out.
    func medianRTT(_ server: IPAddress) -> Int64? {
        guard var s = baselines[key: server]?.rtts else { return nil }
        for r in racedFirsts[server] ?? [] {
            if let i = s.firstIndex(of: r.rtt) { s.remove(at: i) }
        }
        guard !s.isEmpty else { return nil }
        return s.sorted()[s.count / 2]
    }

    static func answersText(_ raw: [UInt8]) -> (qname: String, qtype: String, answers: [String], rcode: String) {
        let parsed = raw.withUnsafeBytes { DNSMessage.parse($0) }
        guard case .success(let m) = parsed else { return ("?", "?", [], "?") }
        let q = m.questions.first
        let answers = m.answers.map { "\(DNSType.mnemonic($0.type)) \($0.rdata.presentation)" }
        return (q?.name ?? "?", q.map { DNSType.mnemonic($0.type) } ?? "?", answers, DNSRCode.name(UInt16(m.flags & 0x000f)))
    }

    static func ms(_ ns: Int64) -> String {
        let tenths = (ns + 50_000) / 100_000
        return "\(tenths / 10).\(abs(tenths % 10)) ms"
    }

    func injectionFinding(_ c: InjectionCase) -> Finding {
        let server = c.key.server
        let baseTTL = baselineTTL(server)
        let rtt = medianRTT(server)
        let firstText = DNSTransactionTracker.answersText(c.responses.first?.raw ?? [])
        // Distinct answers, in arrival order.
        var seen = Set<UInt64>()
        var distinct: [(r: Response, raw: [UInt8])] = []
        for k in c.responses where !k.raw.isEmpty && seen.insert(k.response.digest).inserted { distinct.append((k.response, k.raw)) }
        var suspicious = 0
        var evidence: [Evidence] = []
        let input = inputName(Int(c.query.input))
        var lines: [String] = []
        for (i, (r, raw)) in distinct.enumerated() {
            let t = DNSTransactionTracker.answersText(raw)
            let delay = r.ts.nanoseconds(since: c.query.lastQueryTS)
            var marks: [String] = []
            if let b = baseTTL, abs(Int(r.ipTTL) - Int(b)) > 1 {
                marks.append("IP TTL \(r.ipTTL) differs from the resolver's usual \(b)")
            }
            if let m = rtt, m > 0, delay < m / 2 {
                marks.append("arrived after \(DNSTransactionTracker.ms(delay)), faster than half the usual \(DNSTransactionTracker.ms(m))")
            }
            if !marks.isEmpty { suspicious += 1 }
            let answers = t.answers.isEmpty ? "no answer (\(t.rcode))" : t.answers.joined(separator: ", ")
            lines.append(answers)
            // `time`: when this answer arrived (the event; the query frame is cited for context).
            var facts: [(String, SubjectValue)] = [
                ("time", .string(r.ts.description)),
                ("answers", .string(answers)), ("rcode", .string(t.rcode)),
                ("ip_ttl", .int(Int(r.ipTTL))), ("ip_id", .int(Int(r.ipID))),
                ("arrival_after_query_ns", .int(Int(delay))),
            ]
            if let b = baseTTL { facts.append(("resolver_usual_ip_ttl", .int(Int(b)))) }
            if let m = rtt { facts.append(("resolver_median_rtt_ns", .int(Int(m)))) }
            if !marks.isEmpty { facts.append(("suspicious", .string(marks.joined(separator: "; ")))) }
            evidence.append(Evidence(
                source: .capture, input: input, frames: [c.query.queryFrame, r.frame],
                detail: "response \(i + 1) of \(distinct.count): \(answers); IP TTL \(r.ipTTL), IP ID \(r.ipID), "
                    + "\(DNSTransactionTracker.ms(delay)) after the query" + (marks.isEmpty ? "" : " — " + marks.joined(separator: "; ")),
                facts: facts))
        }
        // The policy decides severity, confidence and wording; two distinct answers are there by construction.
        let race = InjectionRaceEvidence(
            qname: firstText.qname, qtype: firstText.qtype, transport: c.key.proto.name, resolver: server.description,
            client: c.key.client.description, distinctAnswers: lines, clientRetried: c.query.queryCount > 1,
            suspiciousAnswers: suspicious)
        return FindingPolicy.injectionRace(race, evidence: evidence)
            ?? Finding(kind: FindingKind.dnsInjection, severity: .info, confidence: .possible,
                       title: "One answer to a query for \(firstText.qname) \(firstText.qtype) from \(server)",
                       subject: [], evidence: evidence, remediation: "")
    }

    /// One informational finding for all responses on flows with no query in the capture.
    func orphanFinding() -> Finding {
        let evidence = orphans.map { o -> Evidence in
            let t = DNSTransactionTracker.answersText(o.raw)
            return Evidence(source: .capture, input: inputName(o.obs.input), frames: [o.obs.frame],
                            detail: "response from \(o.obs.src) to \(endpointString(o.obs.dst, o.obs.dport)) for \(t.qname) \(t.qtype); "
                                + "no query on that flow in the capture",
                            facts: [("time", .string(o.obs.ts.description))])
        }
        return Finding(
            kind: FindingKind.dnsUnsolicitedResponse, severity: .info, confidence: .possible,
            title: "\(orphanCount) DNS response\(orphanCount == 1 ? "" : "s") on flows where the capture has no query at all",
            subject: [("reason", .string("no-query-in-capture"))],
            evidence: evidence,
            remediation: "Usually the capture sees only one direction, or started late; capture both directions "
                + "(or on the client) to tell spoofed responses from missing packets.")
    }

    func unsolicitedFinding(_ obs: DNSObservation, raw: [UInt8]) -> Finding {
        let t = DNSTransactionTracker.answersText(raw)
        let id = raw.count >= 2 ? Int(UInt16(raw[0]) << 8 | UInt16(raw[1])) : 0
        let answers = t.answers.isEmpty ? "no answer (\(t.rcode))" : t.answers.joined(separator: ", ")
        return Finding(
            kind: FindingKind.dnsUnsolicitedResponse, severity: .medium, confidence: .likely,
            title: "DNS response from \(obs.src) to \(obs.dst) that answers none of the client's queries on that flow (txid \(id))",
            subject: [("resolver", .string(obs.src.description)), ("client", .string(obs.dst.description)),
                      ("transport", .string(obs.transport.name))],
            evidence: [Evidence(
                source: .capture, input: inputName(obs.input), frames: [obs.frame],
                detail: "response txid \(id) for \(t.qname) \(t.qtype) to port \(obs.dport) matches none of the queries the client sent on that flow: "
                    + answers + "; IP TTL \(obs.ipTTL), IP ID \(obs.ipID)",
                facts: [("time", .string(obs.ts.description)), ("txid", .int(id)), ("qname", .string(t.qname)), ("qtype", .string(t.qtype)),
                        ("answers", .string(answers)), ("client_port", .int(Int(obs.dport))),
                        ("ip_ttl", .int(Int(obs.ipTTL))), ("ip_id", .int(Int(obs.ipID)))])],
            remediation: "Responses nobody asked for are how blind spoofing and cache poisoning start; check which host "
                + "sends them and make sure clients use randomised ports and transaction ids, or encrypted DNS.")
    }
}

// MARK: - Flow-sharded analysis

extension DNSTransactionTracker {
    /// Flow-sharded analysis: trackers that each saw part of a capture's flows (every flow whole)
    /// are made to judge with what a single tracker would have known at the end. Every tracker
    /// gets the same per-resolver baselines (IP TTL counts summed; the last 256 RTT samples by
    /// input and frame; the races' first answers of all of them), and the responses on flows
    /// without any query move to the first tracker (kept in frame order, within the same cap), so
    /// that one finding counts them all. Call once, after the last frame and before `finish()`.
    /// A flow-sharded worker's tracker: per-name DNSSEC-strip cases spread over workers, so each
    /// keeps up to 4096 (the merge keeps the first 64, as one tracker does).
    public func keepsMoreForMerging() {
        dnssecStrip.maxCases = 4096
        querierLog = QuerierLog()
    }

    /// The time of an input's first frame (any frame, DNS or not): responses within the grace
    /// window after it may answer queries sent before the capture began. A driver that feeds
    /// frames calls it at each input's first frame (a flow-sharded worker with the input's first
    /// frame, whichever worker gets it), so the window is the same on every worker; without it,
    /// the window starts at the first DNS message.
    public func noteInputStart(_ input: Int, at ts: Timestamp) {
        guard input >= 0 else { return }
        if input >= captureStart.count {
            captureStart.append(contentsOf: repeatElement(nil, count: input + 1 - captureStart.count))
        }
        if captureStart[input] == nil { captureStart[input] = ts }
    }

    public static func shareBaselines(_ trackers: [DNSTransactionTracker]) {
        guard let first = trackers.first, trackers.count > 1 else { return }
        var merged: [IPAddress: Baseline] = [:]
        var raced: [IPAddress: [(ttl: UInt8, rtt: Int64)]] = [:]
        for t in trackers {
            for (server, b) in t.baselines.pairs {
                var m = merged[server] ?? Baseline()
                for i in 0..<256 { m.ttlCounts[i] += b.ttlCounts[i] }
                m.rtts += b.rtts
                m.orders += b.orders
                m.n += b.n
                merged[server] = m
            }
            for (server, r) in t.racedFirsts { raced[server, default: []] += r }
        }
        for (server, var m) in merged where m.rtts.count > 256 {
            let keep = zip(m.orders, m.rtts).sorted { $0.0 < $1.0 }.suffix(256)
            m.orders = keep.map(\.0)
            m.rtts = keep.map(\.1)
            merged[server] = m
        }
        for t in trackers {
            for (server, m) in merged {
                if let e = t.baselines.find(server) {
                    t.baselines[entry: e] = m
                } else {
                    t.baselines.insertNew(server, m)
                }
            }
            t.lastBaselineEntry = -1
            t.racedFirsts = raced
        }
        var orphans: [(obs: DNSObservation, raw: [UInt8])] = []
        var count = 0
        for t in trackers {
            orphans += t.orphans
            count += t.orphanCount
            t.orphans = []
            t.orphanCount = 0
        }
        orphans.sort { ($0.obs.input, $0.obs.frame) < ($1.obs.input, $1.obs.frame) }
        first.orphans = Array(orphans.prefix(first.limits.maxEvidencePerFinding))
        first.orphanCount = count
        DNSSECStripMonitor.merge(trackers.map(\.dnssecStrip))
        // Queriers' exposure (ports, ids, sequential ids) replayed in capture order from every
        // worker's log, judged by the first tracker against every worker's answering addresses.
        if trackers.allSatisfy({ $0.querierLog != nil }) {
            PoisoningMonitor.replay(trackers.compactMap(\.querierLog), into: trackers.map(\.poisoning))
            for t in trackers.dropFirst() {
                for (addr, _) in t.responderTable.pairs where !first.responderTable.contains(addr) {
                    first.responderTable.insertNew(addr, ())
                }
            }
        }
    }
}
