import FlowTable
/// Transport protocol numbers we care about.
public enum TransportProtocol: UInt8, Sendable, Hashable {
    case tcp = 6
    case udp = 17

    public var name: String { self == .tcp ? "tcp" : "udp" }
}

/// One direction-agnostic transport flow: the same key for both directions.
public struct FlowKey: Sendable, Hashable, CustomStringConvertible {
    public let a: IPAddress
    public let b: IPAddress
    public let aPort: UInt16
    public let bPort: UInt16
    public let proto: TransportProtocol
    /// Precomputed mix of every field, so hashing costs one word (flow tables are hot).
    @usableFromInline let mixed: UInt64

    @inlinable
    public func hash(into h: inout Hasher) { h.combine(mixed) }

    @inlinable
    public static func == (x: FlowKey, y: FlowKey) -> Bool {
        x.mixed == y.mixed && x.aPort == y.aPort && x.bPort == y.bPort && x.proto == y.proto && x.a == y.a && x.b == y.b
    }

    /// Builds the canonical key (lower endpoint first) for a packet from src to dst.
    @inlinable
    public init(src: IPAddress, sport: UInt16, dst: IPAddress, dport: UInt16, proto: TransportProtocol) {
        let forward = (src, sport) <= (dst, dport)
        a = forward ? src : dst
        aPort = forward ? sport : dport
        b = forward ? dst : src
        bPort = forward ? dport : sport
        self.proto = proto
        var x = a.hi &* 0xff51_afd7_ed55_8ccd ^ a.lo
        x = (x ^ (x >> 29)) &* 0xc4ce_b9fe_1a85_ec53 ^ b.hi
        x = (x ^ (x >> 31)) &* 0x9E37_79B9_7F4A_7C15 ^ b.lo
        x = (x ^ (x >> 29)) &* 0xbf58_476d_1ce4_e5b9 ^ (UInt64(aPort) << 24 | UInt64(bPort) << 8 | UInt64(proto.rawValue))
        mixed = x ^ (x >> 32)
    }

    /// Whether a packet from `src:sport` travels from endpoint a to endpoint b.
    @inlinable
    public func isAToB(src: IPAddress, sport: UInt16) -> Bool { src == a && sport == aPort }

    public var description: String {
        func ep(_ ip: IPAddress, _ p: UInt16) -> String { ip.isV6 ? "[\(ip)]:\(p)" : "\(ip):\(p)" }
        return "\(proto.name) \(ep(a, aPort)) <-> \(ep(b, bPort))"
    }
}

/// Formats `ADDR:PORT`, bracketing IPv6.
public func endpointString(_ ip: IPAddress, _ port: UInt16) -> String {
    ip.isV6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
}

extension FlowKey: FlowTableKey {
    @inlinable public var tableHash: UInt64 { mixed }
}

extension IPAddress: FlowTableKey {
    @inlinable public var tableHash: UInt64 {
        var x = hi &* 0xff51_afd7_ed55_8ccd ^ lo ^ (isV6 ? 0x6000_0000_0000_0000 : 0)
        x = (x ^ (x >> 33)) &* 0xc4ce_b9fe_1a85_ec53
        return x ^ (x >> 29)
    }
}
