import FlowTable
import NetTypes
import PacketDecode

/// Why a TCP connection's tracking ended.
public enum TCPCloseReason: String, Sendable {
    case fin, rst, idleTimeout = "idle_timeout", evicted, endOfCapture = "end_of_capture"
    /// The consumer said it has learned all it wanted.
    case consumerDone = "consumer_done"
}

/// What a reassembler hands to the protocol code that watches one connection.
/// All calls happen on the reassembler's thread, in capture order.
public protocol TCPStreamConsumer: AnyObject {
    /// Every segment of the connection (also empty ones), before any data it carries is delivered.
    func segment(_ seg: TransportSegment, fromClient: Bool, frame: UInt64, at ts: Timestamp)
    /// New in-order bytes of one direction. Return false to stop receiving data for that direction.
    func data(_ bytes: UnsafeRawBufferPointer, fromClient: Bool, frame: UInt64, at ts: Timestamp) -> Bool
    /// Bytes of one direction were lost (never captured, or dropped to keep memory bounded);
    /// delivery continues after the hole.
    func gap(fromClient: Bool, bytes: Int)
    /// The connection is no longer tracked.
    func closed(_ reason: TCPCloseReason, at ts: Timestamp)
    /// True when nothing more is wanted from this connection: the reassembler then forgets it.
    var isFinished: Bool { get }
}

extension TCPStreamConsumer {
    public var isFinished: Bool { false }
}

/// Decides whether a new connection is worth following and who the client is.
public struct TCPFlowDecision {
    public var consumer: any TCPStreamConsumer
    /// True when the packet that opened the flow was sent by the client.
    public var sourceIsClient: Bool
    public init(consumer: any TCPStreamConsumer, sourceIsClient: Bool) {
        self.consumer = consumer
        self.sourceIsClient = sourceIsClient
    }
}

/// Reassembles TCP byte streams: retransmissions, overlaps and out-of-order segments,
/// with memory bounded per direction, per connection count and in total, and idle timeouts.
public final class TCPReassembler {
    public struct Limits: Sendable {
        public var maxConnections = 32_768
        public var maxBufferedPerDirection = 256 << 10
        public var maxBufferedTotal = 24 << 20
        public var idleTimeoutNanoseconds: Int64 = 120_000_000_000
        /// How long a connection is kept after a RST when no more packets come.
        public var resetLingerNanoseconds: Int64 = 3_000_000_000
        public init() {}
    }

    public struct Stats: Sendable {
        public var segments = 0
        public var connections = 0
        public var retransmittedSegments = 0
        public var outOfOrderSegments = 0
        public var gapBytes = 0
        public var droppedSegmentsOverLimit = 0
        public var timedOut = 0
        public var evicted = 0
        public var peakConnections = 0
        public var peakBufferedBytes = 0
    }

    /// One direction's state, stored inline in its connection (no object of its own).
    struct Direction {
        var nextSeq: UInt32 = 0
        var seqKnown = false
        var finished = false
        var wantsData = true
        var pending: [(seq: UInt32, data: [UInt8], frame: UInt64)] = []
        var pendingBytes = 0
    }

    final class Connection {
        let consumer: any TCPStreamConsumer
        let client: IPAddress
        let clientPort: UInt16
        var toServer = Direction()   // client → server
        var toClient = Direction()   // server → client

        /// The direction a segment travels in, accessed in place (keep each access short: no
        /// consumer call while one is open).
        subscript(fromClient: Bool) -> Direction {
            _read { if fromClient { yield toServer } else { yield toClient } }
            _modify { if fromClient { yield &toServer } else { yield &toClient } }
        }
        var lastSeen: Timestamp
        var finCount = 0
        /// A RST was seen. The connection lingers a little: injected resets are often
        /// followed by more packets of the same connection (the real endpoints never saw them).
        var resetAt: Timestamp?
        /// Closed once (a FIN close and a finished consumer in the same segment close it once).
        var isClosed = false

        init(consumer: any TCPStreamConsumer, client: IPAddress, clientPort: UInt16, lastSeen: Timestamp) {
            self.consumer = consumer
            self.client = client
            self.clientPort = clientPort
            self.lastSeen = lastSeen
        }
    }

    public let limits: Limits
    public private(set) var stats = Stats()
    /// Connections are held unmanaged (one retain, taken at insertion) so that the lookup for
    /// every segment costs no reference counting; a closed connection is released only after the
    /// segment that closed it is done (`graveyard`).
    private let table: FlowTable<FlowKey, Unmanaged<Connection>>
    private var graveyard: [Unmanaged<Connection>] = []
    private var bufferedTotal = 0
    private var lastSweep: Timestamp?
    /// Asked about each segment of a flow not yet followed; nil means "ignore".
    public var decide: (TransportSegment, FlowKey) -> TCPFlowDecision?

    /// `decide` is asked about each segment of a flow not yet followed; nil means "ignore".
    public init(limits: Limits = Limits(), decide: @escaping (TransportSegment, FlowKey) -> TCPFlowDecision? = { _, _ in nil }) {
        self.limits = limits
        self.decide = decide
        table = FlowTable(minimumCapacity: 1024, reservedCapacity: max(1, limits.maxConnections) + 1)
    }

    deinit {
        for (_, u) in table.pairs { u.release() }
        for u in graveyard { u.release() }
    }

    private func buryClosed() {
        guard !graveyard.isEmpty else { return }
        for u in graveyard { u.release() }
        graveyard.removeAll(keepingCapacity: true)
    }

    /// Live connections, as strong references (for sweeps; not on the per-segment path).
    private var connections: [(key: FlowKey, value: Connection)] {
        table.pairs.map { ($0.key, $0.value.takeUnretainedValue()) }
    }

    public var connectionCount: Int { table.count }
    public var bufferedBytes: Int { bufferedTotal }

    public func process(_ seg: TransportSegment, frame: UInt64, at ts: Timestamp) {
        stats.segments += 1
        let key = FlowKey(src: seg.ip.src, sport: seg.sport, dst: seg.ip.dst, dport: seg.dport, proto: .tcp)
        sweepIfDue(now: ts)
        defer { buryClosed() }
        let hash = table.hash(key)
        if let e = table.find(key, hash: hash) {
            let unmanaged = table[entry: e]  // a plain copy: closing may remove the entry meanwhile
            unmanaged._withUnsafeGuaranteedRef { conn in
                handle(seg, conn: conn, key: key, frame: frame, at: ts)
            }
            return
        }
        do {
            // Only a SYN or a segment with data can start following a connection: the last ACK
            // or a stray FIN/RST of a finished connection must not bring it back.
            guard seg.tcpFlags & TransportSegment.syn != 0 || !seg.payload.isEmpty else { return }
            guard let d = decide(seg, key) else { return }
            if table.count >= limits.maxConnections { evictOldest(now: ts) }
            let client = d.sourceIsClient ? seg.ip.src : seg.ip.dst
            let clientPort = d.sourceIsClient ? seg.sport : seg.dport
            let conn = Connection(consumer: d.consumer, client: client, clientPort: clientPort, lastSeen: ts)
            table.insertNew(key, Unmanaged.passRetained(conn), hash: hash)
            stats.connections += 1
            stats.peakConnections = max(stats.peakConnections, table.count)
            handle(seg, conn: conn, key: key, frame: frame, at: ts)
        }
    }

    /// One segment of a followed connection.
    @inline(__always)
    private func handle(_ seg: TransportSegment, conn: Connection, key: FlowKey, frame: UInt64, at ts: Timestamp) {
        conn.lastSeen = ts
        let fromClient = seg.ip.src == conn.client && seg.sport == conn.clientPort
        conn.consumer.segment(seg, fromClient: fromClient, frame: frame, at: ts)

        let flags = seg.tcpFlags
        if flags & TransportSegment.rst != 0 {
            if conn.resetAt == nil { conn.resetAt = ts }
            return
        }
        if flags & TransportSegment.syn != 0 {
            conn[fromClient].nextSeq = seg.seq &+ 1
            conn[fromClient].seqKnown = true
        }
        if !seg.payload.isEmpty && conn[fromClient].wantsData {
            deliver(seg, seq: flags & TransportSegment.syn != 0 ? seg.seq &+ 1 : seg.seq,
                    conn: conn, fromClient: fromClient, frame: frame, at: ts)
        }
        if flags & TransportSegment.fin != 0 && !conn[fromClient].finished {
            conn[fromClient].finished = true
            flushPending(conn: conn, fromClient: fromClient, frame: frame, at: ts)
            conn.finCount += 1
            if conn.finCount >= 2 { close(key, conn, .fin, at: ts) }
        }
        if conn.consumer.isFinished { close(key, conn, .consumerDone, at: ts) }
    }

    private func deliver(_ seg: TransportSegment, seq: UInt32, conn: Connection,
                         fromClient: Bool, frame: UInt64, at ts: Timestamp) {
        if !conn[fromClient].seqKnown {
            conn[fromClient].nextSeq = seq
            conn[fromClient].seqKnown = true
        }
        let rel = Int32(bitPattern: seq &- conn[fromClient].nextSeq)
        let len = seg.payload.count
        if rel == 0 {
            emit(seg.payload, conn: conn, fromClient: fromClient, frame: frame, at: ts)
            drainPending(conn: conn, fromClient: fromClient, frame: frame, at: ts)
        } else if rel < 0 {
            // Retransmission, possibly carrying new bytes past what we have.
            let overlap = Int(-Int64(rel))
            if overlap < len {
                emit(UnsafeRawBufferPointer(rebasing: seg.payload[overlap...]), conn: conn,
                     fromClient: fromClient, frame: frame, at: ts)
                drainPending(conn: conn, fromClient: fromClient, frame: frame, at: ts)
            } else {
                stats.retransmittedSegments += 1
            }
        } else {
            stats.outOfOrderSegments += 1
            if conn[fromClient].pendingBytes + len > limits.maxBufferedPerDirection || bufferedTotal + len > limits.maxBufferedTotal {
                // Over budget: give up waiting for the hole and move on.
                stats.droppedSegmentsOverLimit += 1
                flushPending(conn: conn, fromClient: fromClient, frame: frame, at: ts)
                if conn[fromClient].wantsData {
                    let hole = Int(Int32(bitPattern: seq &- conn[fromClient].nextSeq))
                    if hole > 0 {
                        stats.gapBytes += hole
                        conn.consumer.gap(fromClient: fromClient, bytes: hole)
                        conn[fromClient].nextSeq = seq
                    }
                    if Int32(bitPattern: seq &- conn[fromClient].nextSeq) == 0 {
                        emit(seg.payload, conn: conn, fromClient: fromClient, frame: frame, at: ts)
                    }
                }
                return
            }
            if !conn[fromClient].pending.contains(where: { $0.seq == seq && $0.data.count >= len }) {
                conn[fromClient].pending.append((seq, Array(seg.payload), frame))
                conn[fromClient].pendingBytes += len
                bufferedTotal += len
                stats.peakBufferedBytes = max(stats.peakBufferedBytes, bufferedTotal)
            }
        }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer, conn: Connection,
                      fromClient: Bool, frame: UInt64, at ts: Timestamp) {
        conn[fromClient].nextSeq = conn[fromClient].nextSeq &+ UInt32(truncatingIfNeeded: bytes.count)
        guard conn[fromClient].wantsData else { return }
        if !conn.consumer.data(bytes, fromClient: fromClient, frame: frame, at: ts) {
            conn[fromClient].wantsData = false
            releasePending(conn, fromClient: fromClient)
        }
    }

    /// Delivers buffered segments that have become contiguous.
    private func drainPending(conn: Connection, fromClient: Bool, frame: UInt64, at ts: Timestamp) {
        var progressed = true
        while progressed && !conn[fromClient].pending.isEmpty && conn[fromClient].wantsData {
            progressed = false
            var i = 0
            while i < conn[fromClient].pending.count {
                let p = conn[fromClient].pending[i]
                let rel = Int32(bitPattern: p.seq &- conn[fromClient].nextSeq)
                if rel <= 0 {
                    conn[fromClient].pending.remove(at: i)
                    conn[fromClient].pendingBytes -= p.data.count
                    bufferedTotal -= p.data.count
                    let overlap = Int(-Int64(rel))
                    if overlap < p.data.count {
                        p.data.withUnsafeBytes { raw in
                            emit(UnsafeRawBufferPointer(rebasing: raw[overlap...]), conn: conn,
                                 fromClient: fromClient, frame: max(frame, p.frame), at: ts)
                        }
                    }
                    progressed = true
                } else {
                    i += 1
                }
            }
        }
    }

    /// Skips holes: delivers everything buffered in sequence order, reporting each gap.
    private func flushPending(conn: Connection, fromClient: Bool, frame: UInt64, at ts: Timestamp) {
        while !conn[fromClient].pending.isEmpty && conn[fromClient].wantsData {
            drainPending(conn: conn, fromClient: fromClient, frame: frame, at: ts)
            guard let next = conn[fromClient].pending.min(by: { Int32(bitPattern: $0.seq &- $1.seq) < 0 }) else { break }
            let hole = Int(Int32(bitPattern: next.seq &- conn[fromClient].nextSeq))
            if hole > 0 {
                stats.gapBytes += hole
                conn.consumer.gap(fromClient: fromClient, bytes: hole)
                conn[fromClient].nextSeq = next.seq
            }
        }
        releasePending(conn, fromClient: fromClient)
    }

    private func releasePending(_ conn: Connection, fromClient: Bool) {
        bufferedTotal -= conn[fromClient].pendingBytes
        conn[fromClient].pendingBytes = 0
        conn[fromClient].pending.removeAll()
    }

    private func close(_ key: FlowKey, _ conn: Connection, _ reason: TCPCloseReason, at ts: Timestamp) {
        guard !conn.isClosed else { return }
        conn.isClosed = true
        releasePending(conn, fromClient: true)
        releasePending(conn, fromClient: false)
        if let u = table.removeValue(forKey: key) { graveyard.append(u) }
        conn.consumer.closed(reason, at: ts)
    }

    private func sweepIfDue(now: Timestamp) {
        guard let last = lastSweep else {
            lastSweep = now
            return
        }
        // Sweep once per second of capture time.
        if now.nanoseconds(since: last) >= 1_000_000_000 {
            lastSweep = now
            expire(now: now)
        }
    }

    /// Closes connections idle for longer than the timeout, and reset ones after their linger time.
    public func expire(now: Timestamp) {
        let timeout = limits.idleTimeoutNanoseconds
        let linger = limits.resetLingerNanoseconds
        defer { buryClosed() }
        let stale = connections.filter {
            let idle = now.nanoseconds(since: $0.value.lastSeen)
            return idle > timeout || ($0.value.resetAt != nil && idle > linger)
        }
        for (k, c) in stale {
            if c.resetAt != nil {
                close(k, c, .rst, at: now)
            } else {
                stats.timedOut += 1
                close(k, c, .idleTimeout, at: now)
            }
        }
    }

    private func evictOldest(now: Timestamp) {
        expire(now: now)
        guard table.count >= limits.maxConnections else { return }
        // Still full: drop the eighth of connections idle longest.
        let victims = connections.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(max(1, table.count / 8))
        for (k, c) in victims {
            stats.evicted += 1
            close(k, c, .evicted, at: now)
        }
    }

    /// End of input: close everything, delivering buffered data past any holes first.
    public func finish(at ts: Timestamp) {
        defer { buryClosed() }
        for (k, c) in connections {
            flushPending(conn: c, fromClient: true, frame: 0, at: ts)
            flushPending(conn: c, fromClient: false, frame: 0, at: ts)
            close(k, c, c.resetAt != nil ? .rst : .endOfCapture, at: ts)
        }
    }
}
