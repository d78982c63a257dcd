import NetTypes

/// Which resolvers a capture's DNS queries went to: queries per (client, resolver, port,
/// transport), with the first frame of each. Bounded: paths beyond `maxPaths` are only counted.
/// Firewall correlation uses it to say how much captured traffic a redirect rule would take.
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
    }

    public static let maxPaths = 4096
    public private(set) var paths: [Path: Count] = [:]
    /// Queries on paths that did not fit the table.
    public private(set) var overflowQueries = 0

    public init() {}

    public mutating func query(client: IPAddress, resolver: IPAddress, port: UInt16, transport: TransportProtocol,
                               frame: UInt64, input: Int) {
        let p = Path(client: client, resolver: resolver, port: port, transport: transport)
        if let i = paths.index(forKey: p) {
            paths.values[i].queries += 1  // one hash per query on this hot path
        } else if paths.count < Self.maxPaths {
            paths[p] = Count(queries: 1, firstFrame: frame, input: input)
        } else {
            overflowQueries += 1
        }
    }
}
