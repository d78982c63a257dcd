import NetTypes
import PacketDecode

/// A datagram rebuilt from IP fragments: the transport header and payload, owned.
public struct ReassembledDatagram {
    public var ip: IPInfo
    public var protocolNumber: UInt8
    public var data: [UInt8]
}

/// Reassembles IPv4 and IPv6 fragments with bounded memory and a timeout.
///
/// Overlapping fragments keep the bytes that arrived first (the BSD/Linux choice for
/// exact duplicates; conflicting overlaps are counted as anomalies).
public final class IPFragmentReassembler {
    public struct Limits: Sendable {
        public var maxDatagrams = 4096
        public var maxTotalBytes = 8 << 20
        public var maxDatagramBytes = 65_535 + 40
        public var timeoutNanoseconds: Int64 = 30_000_000_000
        public init() {}
    }

    public struct Stats: Sendable {
        public var fragments = 0
        public var reassembled = 0
        public var timedOut = 0
        public var evicted = 0
        public var tooLarge = 0
        public var overlapConflicts = 0
    }

    struct Key: Hashable {
        var src: IPAddress
        var dst: IPAddress
        var id: UInt32
        var proto: UInt8
    }

    struct Pending {
        var ip: IPInfo
        var proto: UInt8
        var pieces: [(offset: Int, data: [UInt8])] = []
        var totalLength: Int?
        var bytes = 0
        var firstSeen: Timestamp
    }

    public private(set) var stats = Stats()
    public let limits: Limits
    private var table: [Key: Pending] = [:]
    private var totalBytes = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    public var pendingCount: Int { table.count }

    /// Adds a fragment; returns the datagram when it is complete.
    public func add(_ f: IPFragment, at ts: Timestamp) -> ReassembledDatagram? {
        stats.fragments += 1
        let key = Key(src: f.ip.src, dst: f.ip.dst, id: f.identification, proto: f.protocolNumber)
        let end = f.offset + f.data.count
        guard end <= limits.maxDatagramBytes else {
            stats.tooLarge += 1
            drop(key)
            return nil
        }
        if table[key] == nil {
            if table.count >= limits.maxDatagrams || totalBytes + f.data.count > limits.maxTotalBytes {
                expire(now: ts)
                while table.count >= limits.maxDatagrams || totalBytes + f.data.count > limits.maxTotalBytes,
                      let oldest = table.min(by: { $0.value.firstSeen < $1.value.firstSeen })?.key {
                    stats.evicted += 1
                    drop(oldest)
                }
            }
            table[key] = Pending(ip: f.ip, proto: f.protocolNumber, firstSeen: ts)
        }
        guard var p = table[key] else { return nil }
        if f.offset == 0 { p.ip = f.ip }
        if !f.moreFragments {
            if let t = p.totalLength, t != end { stats.overlapConflicts += 1 }
            p.totalLength = end
        }
        p.pieces.append((f.offset, Array(f.data)))
        p.bytes += f.data.count
        totalBytes += f.data.count
        table[key] = p

        guard let total = p.totalLength, let data = assemble(p, total: total) else { return nil }
        drop(key)
        stats.reassembled += 1
        return ReassembledDatagram(ip: p.ip, protocolNumber: p.proto, data: data)
    }

    /// Builds the datagram if the pieces cover [0, total).
    private func assemble(_ p: Pending, total: Int) -> [UInt8]? {
        let sorted = p.pieces.sorted { $0.offset < $1.offset }
        var covered = 0
        for piece in sorted {
            if piece.offset > covered { return nil }
            covered = max(covered, piece.offset + piece.data.count)
        }
        guard covered >= total else { return nil }
        var out = [UInt8](repeating: 0, count: total)
        var written = [Bool](repeating: false, count: total)
        // First-arrived bytes win: write in arrival order, never overwrite.
        for piece in p.pieces {
            for (i, b) in piece.data.enumerated() {
                let pos = piece.offset + i
                guard pos < total else { break }
                if written[pos] {
                    if out[pos] != b { stats.overlapConflicts += 1 }
                } else {
                    out[pos] = b
                    written[pos] = true
                }
            }
        }
        return out
    }

    private func drop(_ key: Key) {
        if let p = table.removeValue(forKey: key) { totalBytes -= p.bytes }
    }

    /// Drops datagrams older than the timeout.
    public func expire(now: Timestamp) {
        let stale = table.filter { now.nanoseconds(since: $0.value.firstSeen) > limits.timeoutNanoseconds }.map(\.key)
        for k in stale {
            stats.timedOut += 1
            drop(k)
        }
    }

    /// End of input: whatever is still incomplete never will be.
    public func finish() {
        stats.timedOut += table.count
        table.removeAll()
        totalBytes = 0
    }
}
