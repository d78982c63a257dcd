import DNSWire
import NetTypes
import TLSWire

/// Which DNS flavour a message was carried as.
public enum DNSFlavor: String, Sendable {
    case dns, mdns, llmnr

    public static func forPorts(_ a: UInt16, _ b: UInt16) -> DNSFlavor? {
        if a == 53 || b == 53 { return .dns }
        if a == 5353 || b == 5353 { return .mdns }
        if a == 5355 || b == 5355 { return .llmnr }
        return nil
    }
}

/// Where a decoded message was seen: the common head of every decode line.
public struct WireContext: Sendable {
    public var input: Int
    public var frame: UInt64
    public var ts: Timestamp
    public var src: IPAddress
    public var dst: IPAddress
    public var sport: UInt16
    public var dport: UInt16
    public var transport: TransportProtocol
    /// The message came inside cleartext DNS over HTTPS (HTTP/1.1 or h2c) on that transport:
    /// decode lines say `transport: "doh"`.
    public var overDoH: Bool = false

    @inlinable
    public init(input: Int, frame: UInt64, ts: Timestamp, src: IPAddress, dst: IPAddress, sport: UInt16, dport: UInt16,
                transport: TransportProtocol) {
        self.input = input
        self.frame = frame
        self.ts = ts
        self.src = src
        self.dst = dst
        self.sport = sport
        self.dport = dport
        self.transport = transport
    }
}

/// One decoded message, for `dnsaudit decode` and other pipelines.
public enum DecodeEvent: Sendable {
    case dns(WireContext, DNSFlavor, DNSMessage)
    /// A DNS message too short or broken to decode at all.
    case dnsError(WireContext, DNSFlavor, String)
    case tlsClientHello(WireContext, ClientHello, JA4Transport)
    case tlsServerHello(WireContext, ServerHello)
}
