import Findings
import NetTypes
import ResolverCatalog

/// Encrypted DNS seen on the wire (issue 20 item 11), per client and resolver: DoT (TCP 853),
/// DoQ (UDP 853; 784 and 8853 of the drafts), DoH (TCP 443 to a well-known resolver address from `ResolverCatalog`, to a server
/// whose ClientHello named a known DoH name, to an address a captured `_dns.resolver.arpa` answer
/// designated, or cleartext DoH the stream stage decoded). Counted on the packet path with one
/// port test per segment (and one set lookup for port 443); bounded by `maxPaths`.
public final class EncryptedDNSOnWire {
    public enum Service: String, Sendable, Comparable, CaseIterable {
        case dot = "DoT", doh = "DoH", doq = "DoQ"
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    public struct Path: Sendable, Hashable {
        public var client: IPAddress
        public var server: IPAddress
        public var port: UInt16
        public var proto: Service
    }

    public struct Tally: Sendable {
        public var flows = 0
        public var packets = 0
        /// Transport payload bytes, both directions.
        public var bytes = 0
        public var first = Timestamp.zero
        public var last = Timestamp.zero
        public var firstFrame: UInt64 = 0
        /// Why the server is taken for a DoH resolver (DoH only): "catalog", "sni NAME", "ddr", "cleartext".
        public var why = ""
        /// Client ports seen (flows), bounded.
        var clientPorts: Set<UInt16> = []
        /// The previous packet's client port (already in `clientPorts`): a flow's packets do not
        /// hash it again.
        var lastClientPort: UInt16?

        /// One more packet of this path.
        mutating func note(bytes: Int, ts: Timestamp, clientPort: UInt16) {
            packets += 1
            self.bytes += max(0, bytes)
            if ts > last { last = ts }
            if ts < first { first = ts }
            guard clientPort != lastClientPort else { return }
            if clientPorts.count < 65_536, clientPorts.insert(clientPort).inserted { flows += 1 }
            if clientPorts.contains(clientPort) { lastClientPort = clientPort }
        }
    }

    public static let maxPaths = 4096
    public private(set) var paths: [Path: Tally] = [:]
    public private(set) var overflowPackets = 0
    /// The path of the previous counted packet and its index in `paths` (nil after an insert).
    private var lastPath: Path?
    private var lastIndex: Dictionary<Path, Tally>.Index?
    /// Servers taken for DoH on TCP 443, and why.
    private var dohServers: [IPAddress: String] = EncryptedDNSOnWire.catalogServers
    /// A bit per 16-bit slice of the servers' table hashes, set for every address in `dohServers`:
    /// a TCP 443 segment to any other server (nearly all of them) is passed over after one
    /// multiply and a bit test, without hashing the address for the dictionary.
    private var dohFilter = DoHServerFilter(EncryptedDNSOnWire.catalogServers.keys)

    static let catalogServers: [IPAddress: String] = {
        var out: [IPAddress: String] = [:]
        for op in ResolverCatalog.operators {
            for a in op.addresses + op.identityAddresses {
                if let ip = IPAddress(a) { out[ip] = "catalog (\(op.name))" }
            }
        }
        return out
    }()

    public init() {}

    /// One TCP or UDP segment. Cheap unless a port is 853 or 443 (784, 8853): the port test is
    /// inlined into the caller's packet path, the rest is a call.
    @inlinable @inline(__always)
    public func segment(src: IPAddress, dst: IPAddress, sport: UInt16, dport: UInt16, tcp: Bool, payloadBytes: Int,
                        ts: Timestamp, frame: UInt64) {
        guard dport == 853 || sport == 853 || dport == 443 || sport == 443
                || (!tcp && (dport == 784 || sport == 784 || dport == 8853 || sport == 8853)) else { return }
        countSegment(src: src, dst: dst, sport: sport, dport: dport, tcp: tcp, payloadBytes: payloadBytes, ts: ts, frame: frame)
    }

    @usableFromInline
    func countSegment(src: IPAddress, dst: IPAddress, sport: UInt16, dport: UInt16, tcp: Bool, payloadBytes: Int,
                      ts: Timestamp, frame: UInt64) {
        if dport == 853 || sport == 853 || (!tcp && (dport == 784 || sport == 784 || dport == 8853 || sport == 8853)) {
            // DoT on TCP 853; DoQ on UDP 853 (RFC 9250) and the drafts' 784 / 8853.
            let toServer = dport == 853 || dport == 784 || dport == 8853
            count(client: toServer ? src : dst, server: toServer ? dst : src, port: toServer ? dport : sport, proto: tcp ? .dot : .doq,
                  clientPort: toServer ? sport : dport, bytes: payloadBytes, ts: ts, frame: frame, why: "")
        } else if tcp && (dport == 443 || sport == 443) {
            let toServer = dport == 443
            let server = toServer ? dst : src
            guard dohFilter.mayContain(server), let why = dohServers[server] else { return }
            count(client: toServer ? src : dst, server: server, port: 443, proto: .doh,
                  clientPort: toServer ? sport : dport, bytes: payloadBytes, ts: ts, frame: frame, why: why)
        }
    }

    /// A ClientHello's SNI: a known DoH name makes the server a DoH resolver from here on.
    public func clientHello(sni: String?, server: IPAddress, port: UInt16) {
        guard port == 443, let sni, dohServers[server] == nil, dohServers.count < 65_536 else { return }
        let name = sni.lowercased()
        if ResolverCatalog.dohNames.contains(name) {
            dohServers[server] = "sni \(name)"
            dohFilter.insert(server)
        }
    }

    /// Addresses a captured `_dns.resolver.arpa` SVCB answer designated (ipv4hint / ipv6hint).
    public func designated(_ addresses: [IPAddress]) {
        for a in addresses.prefix(16) where dohServers[a] == nil && dohServers.count < 65_536 {
            dohServers[a] = "ddr"
            dohFilter.insert(a)
        }
    }

    /// Cleartext DoH the stream stage decoded (one message): the connection is DoH whatever its port.
    public func cleartextDoH(client: IPAddress, server: IPAddress, port: UInt16, clientPort: UInt16, bytes: Int, ts: Timestamp, frame: UInt64) {
        count(client: client, server: server, port: port, proto: .doh, clientPort: clientPort, bytes: bytes, ts: ts, frame: frame, why: "cleartext")
    }

    private func count(client: IPAddress, server: IPAddress, port: UInt16, proto: Service, clientPort: UInt16, bytes: Int,
                       ts: Timestamp, frame: UInt64, why: String) {
        let p = Path(client: client, server: server, port: port, proto: proto)
        // The previous packet's path (a flow's packets come in runs) is updated without hashing;
        // else one hash: an existing path is updated in place through its index.
        if let i = lastIndex, lastPath == p {
            paths.values[i].note(bytes: bytes, ts: ts, clientPort: clientPort)
        } else if let i = paths.index(forKey: p) {
            paths.values[i].note(bytes: bytes, ts: ts, clientPort: clientPort)
            lastPath = p
            lastIndex = i
        } else {
            guard paths.count < Self.maxPaths else { overflowPackets += 1; return }
            var t = Tally(first: ts, last: ts, firstFrame: frame, why: why)
            t.note(bytes: bytes, ts: ts, clientPort: clientPort)
            paths[p] = t
            lastIndex = nil  // an insert may move the entries
        }
    }

    /// Several workers' tallies as one (flow-sharded analyze): flows of one path are in one worker.
    public static func merged(_ parts: [EncryptedDNSOnWire]) -> EncryptedDNSOnWire {
        let out = EncryptedDNSOnWire()
        for part in parts {
            out.overflowPackets += part.overflowPackets
            for (p, t) in part.paths {
                if var m = out.paths[p] {
                    m.packets += t.packets
                    m.bytes += t.bytes
                    if t.first < m.first { m.first = t.first; m.firstFrame = t.firstFrame }
                    if t.last > m.last { m.last = t.last }
                    let before = m.clientPorts.count
                    m.clientPorts.formUnion(t.clientPorts)
                    m.flows += m.clientPorts.count - before
                    out.paths[p] = m
                } else {
                    out.paths[p] = t
                }
            }
        }
        return out
    }

    /// One row of the report's summary: a client's encrypted DNS to one resolver.
    public struct Row: Sendable {
        public var client: String
        public var resolver: String
        public var port: Int
        public var proto: Service
        public var flows: Int
        public var packets: Int
        public var bytes: Int
        public var first: Timestamp
        public var last: Timestamp
        public var why: String
        /// Plain DNS this client sent (queries per resolver), from the capture's DNS paths.
        public var plainDNS: [(resolver: String, queries: Int)]
    }

    /// The rows, ordered by client, resolver, protocol; `plainQueries` gives the plain DNS queries
    /// per (client → [(resolver, queries)]).
    public func rows(plainQueries: [IPAddress: [(IPAddress, Int)]]) -> [Row] {
        paths.sorted { a, b in
            if a.key.client != b.key.client { return a.key.client < b.key.client }
            if a.key.server != b.key.server { return a.key.server < b.key.server }
            if a.key.proto != b.key.proto { return a.key.proto < b.key.proto }
            return a.key.port < b.key.port
        }.map { p, t in
            let plain = (plainQueries[p.client] ?? []).sorted { $0.0 < $1.0 }.map { (resolver: $0.0.description, queries: $0.1) }
            return Row(client: p.client.description, resolver: p.server.description, port: Int(p.port), proto: p.proto, flows: t.flows,
                       packets: t.packets, bytes: t.bytes, first: t.first, last: t.last, why: t.why, plainDNS: plain)
        }
    }

    /// The summary as report inputs of kind `encrypted-dns` (one per client and resolver and
    /// protocol), rendered by every format's inputs section: client, resolver, protocol, flows,
    /// packets, bytes, first/last time, and whether the client also sent plain DNS (to whom).
    public static func reportInputs(_ rows: [Row]) -> [ReportInput] {
        rows.prefix(512).map { r in
            let plain = r.plainDNS.isEmpty ? "none seen: bypasses the network's resolver"
                : r.plainDNS.prefix(8).map { "\($0.resolver) (\($0.queries))" }.joined(separator: ", ")
            var facts: [(String, SubjectValue)] = [
                ("client", .string(r.client)), ("resolver", .string(r.resolver)), ("protocol", .string(r.proto.rawValue)),
                ("port", .int(r.port)), ("flows", .int(r.flows)), ("packets", .int(r.packets)), ("bytes", .int(r.bytes)),
                ("first", .string(r.first.description)), ("last", .string(r.last.description)),
                ("plain_dns", .string(plain)),
            ]
            if !r.why.isEmpty { facts.append(("identified_by", .string(r.why))) }
            return ReportInput(kind: "encrypted-dns", name: "\(r.client) → \(r.resolver) \(r.proto.rawValue)", facts: facts)
        }
    }
}

/// A 65 536-bit filter of server addresses (no false negatives): bit = the top 16 bits of the
/// address's table hash.
struct DoHServerFilter {
    private var words = [UInt64](repeating: 0, count: 1024)

    init<S: Sequence>(_ addresses: S) where S.Element == IPAddress {
        for a in addresses { insert(a) }
    }

    @inline(__always)
    private static func bit(_ a: IPAddress) -> Int { Int(truncatingIfNeeded: a.tableHash >> 48) }

    mutating func insert(_ a: IPAddress) {
        let b = DoHServerFilter.bit(a)
        words[b >> 6] |= 1 << UInt64(b & 63)
    }

    @inline(__always)
    func mayContain(_ a: IPAddress) -> Bool {
        let b = DoHServerFilter.bit(a)
        return words[b >> 6] & (1 << UInt64(b & 63)) != 0
    }
}
