/// Transport protocol numbers we care about.
public enum TransportProtocol: UInt8, Sendable, Hashable {
    case tcp = 6
    case udp = 17

    public var name: String { self == .tcp ? "tcp" : "udp" }
}

/// One direction-agnostic transport flow: the same key for both directions.
public struct FlowKey: Sendable, Hashable, CustomStringConvertible {
    public var a: IPAddress
    public var b: IPAddress
    public var aPort: UInt16
    public var bPort: UInt16
    public var proto: TransportProtocol

    /// Builds the canonical key (lower endpoint first) for a packet from src to dst.
    @inlinable
    public init(src: IPAddress, sport: UInt16, dst: IPAddress, dport: UInt16, proto: TransportProtocol) {
        if (src, sport) <= (dst, dport) {
            a = src; aPort = sport; b = dst; bPort = dport
        } else {
            a = dst; aPort = dport; b = src; bPort = sport
        }
        self.proto = proto
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
