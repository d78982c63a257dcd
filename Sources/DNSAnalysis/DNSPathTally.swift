import FlowTable
import NetTypes

/// Which resolvers a capture's DNS queries went to: queries per (client, resolver, port,
/// transport), with the first frame of each. Bounded: paths beyond `maxPaths` are only counted.
/// Firewall correlation uses it to say how much captured traffic a redirect rule would take.
/// Counted on the packet path by `DNSPathCounter`.
public struct DNSPathTally: Sendable {
    public struct Path: Sendable, Hashable {
        public var client: IPAddress
        public var resolver: IPAddress
        public var port: UInt16
        public var transport: TransportProtocol
    }

    public struct Count: Sendable {
        public var queries: Int
        public var firstFrame: UInt64
        public var input: Int
        /// The first query's time (evidence `time`).
        public var firstTS: Timestamp = .zero
    }

    public static let maxPaths = 4096
    public private(set) var paths: [Path: Count] = [:]
    /// Queries on paths that did not fit the table.
    public private(set) var overflowQueries = 0

    public init() {}

    public init(paths: [Path: Count], overflowQueries: Int) {
        self.paths = paths
        self.overflowQueries = overflowQueries
    }
}

extension DNSPathTally.Path: FlowTableKey {
    public var tableHash: UInt64 {
        var x = (resolver.tableHash ^ UInt64(port) << 8 ^ UInt64(transport.rawValue)) &* 0x9E37_79B9_7F4A_7C15
        x ^= client.tableHash
        return (x ^ (x >> 31)) &* 0xbf58_476d_1ce4_e5b9
    }
}

/// The packet path's side of `DNSPathTally`: the same counting in a `FlowTable` (one cheap hash
/// per query), turned into a tally when asked.
public final class DNSPathCounter {
    private let table = FlowTable<DNSPathTally.Path, DNSPathTally.Count>(minimumCapacity: 64)
    private var overflowQueries = 0

    public init() {}

    public func query(client: IPAddress, resolver: IPAddress, port: UInt16, transport: TransportProtocol,
                      frame: UInt64, input: Int, ts: Timestamp = .zero) {
        let p = DNSPathTally.Path(client: client, resolver: resolver, port: port, transport: transport)
        if let e = table.find(p) {
            table[entry: e].queries += 1
        } else if table.count < DNSPathTally.maxPaths {
            table.insertNew(p, DNSPathTally.Count(queries: 1, firstFrame: frame, input: input, firstTS: ts))
        } else {
            overflowQueries += 1
        }
    }

    public var tally: DNSPathTally {
        var d: [DNSPathTally.Path: DNSPathTally.Count] = [:]
        d.reserveCapacity(table.count)
        for (k, v) in table.pairs { d[k] = v }
        return DNSPathTally(paths: d, overflowQueries: overflowQueries)
    }
}
