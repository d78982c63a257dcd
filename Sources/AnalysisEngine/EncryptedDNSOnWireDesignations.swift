import DNSWire
import Findings
import NetTypes
import PacketDecode
import ResolverCatalog
import TLSAnalysis

/// Issue 20 item 11 beyond ports and the catalogue's addresses: resolvers a captured DDR answer
/// designated (RFC 9462: the SVCB records of `_dns.resolver.arpa`), ODoH targets and relays
/// (RFC 9230) named in a ClientHello, and cleartext DoH the stream stage decoded. Nothing here runs
/// per packet: once per SVCB response, per ClientHello when a designation was seen, per DoH
/// message. The designations feed `EncryptedDNSOnWire` (which counts the packets) and name the
/// rows of the report afterwards.
final class EncryptedDNSDesignations {
    static let ddrName = "_dns.resolver.arpa"

    /// Designated target names (lowercased, no trailing dot) that speak DoH on 443 → "ddr NAME".
    private(set) var dohNames: [String: String] = [:]
    /// Every designated address (hints and the target's A/AAAA in the same answer) → "ddr NAME".
    private(set) var addresses: [IPAddress: String] = [:]
    /// Bound: a hostile capture cannot grow the tables without limit.
    static let maxEntries = 1024

    /// A DNS response whose question type is SVCB: when it answers `_dns.resolver.arpa`, each
    /// designation's names and addresses are recorded, and the DoH ones (alpn h2, http/1.1 or h3
    /// on port 443) become DoH servers for the packet path.
    func svcbResponse(_ msg: UnsafeRawBufferPointer, into wire: EncryptedDNSOnWire) {
        guard case .success(let m) = DNSMessage.parse(msg), m.flags & 0x000F == 0,
              let q = m.questions.first, q.type == DNSType.svcb, Self.bare(q.name) == Self.ddrName else { return }
        var glue: [String: [IPAddress]] = [:]
        for rr in m.answers + m.additional {
            switch rr.rdata {
            case .a(let a): if let ip = IPAddress(a.description) { glue[Self.bare(rr.name), default: []].append(ip) }
            case .aaaa(let a): if let ip = IPAddress(a.description) { glue[Self.bare(rr.name), default: []].append(ip) }
            default: continue
            }
        }
        for rr in m.answers.prefix(16) {
            guard case .svcb(let priority, let target, let params) = rr.rdata, priority > 0 else { continue }
            let name = Self.bare(target)
            guard !name.isEmpty, name != Self.ddrName else { continue }
            var alpns: [String] = [], port: UInt16?, hinted: [IPAddress] = []
            for p in params {
                switch p {
                case .alpn(let ids): alpns += ids.prefix(16).map { String(decoding: $0, as: UTF8.self) }
                case .port(let n): port = n
                case .ipv4hint(let a): hinted += a.prefix(16).compactMap { IPAddress($0.description) }
                case .ipv6hint(let a): hinted += a.prefix(16).compactMap { IPAddress($0.description) }
                default: continue
                }
            }
            let why = "ddr \(name)"
            let all = hinted + (glue[name] ?? [])
            for a in all where addresses.count < Self.maxEntries && addresses[a] == nil { addresses[a] = why }
            let doh = alpns.contains { $0 == "h2" || $0 == "http/1.1" || $0 == "h3" }
            guard doh, port == nil || port == 443 else { continue }
            if dohNames.count < Self.maxEntries { dohNames[name] = why }
            wire.designated(all)
        }
    }

    /// A ClientHello to TCP 443 naming a designated DoH target: that server is a DoH resolver.
    func clientHello(sni: String?, server: IPAddress, port: UInt16, into wire: EncryptedDNSOnWire) {
        guard !dohNames.isEmpty, port == 443, let sni, dohNames[Self.bare(sni)] != nil else { return }
        if addresses[server] == nil && addresses.count < Self.maxEntries { addresses[server] = "ddr \(Self.bare(sni))" }
        wire.designated([server])
    }

    /// One DNS message out of cleartext DoH: counted for its connection (the client is the side
    /// that sent a query, QR clear).
    func cleartextDoH(_ msg: UnsafeRawBufferPointer, seg: TransportSegment, frame: UInt64, ts: Timestamp, into wire: EncryptedDNSOnWire) {
        guard msg.count >= 12 else { return }
        let query = msg[2] & 0x80 == 0
        wire.cleartextDoH(client: query ? seg.ip.src : seg.ip.dst, server: query ? seg.ip.dst : seg.ip.src,
                          port: query ? seg.dport : seg.sport, clientPort: query ? seg.sport : seg.dport,
                          bytes: msg.count, ts: ts, frame: frame)
    }

    /// Cleartext ODoH connections (client, server, server port), for naming their rows.
    private(set) var obliviousPaths: Set<ObliviousPath> = []
    struct ObliviousPath: Hashable { var client: IPAddress, server: IPAddress, port: UInt16 }

    /// Bytes of a cleartext ODoH connection: counted like cleartext DoH (one packet per in-order
    /// chunk), the path remembered so that its row says ODoH.
    func cleartextODoH(bytes: Int, seg: TransportSegment, fromClient: Bool, frame: UInt64, ts: Timestamp, into wire: EncryptedDNSOnWire) {
        let p = fromClient ? ObliviousPath(client: seg.ip.src, server: seg.ip.dst, port: seg.dport)
            : ObliviousPath(client: seg.ip.dst, server: seg.ip.src, port: seg.sport)
        if obliviousPaths.count < Self.maxEntries { obliviousPaths.insert(p) }
        wire.cleartextDoH(client: p.client, server: p.server, port: p.port, clientPort: fromClient ? seg.sport : seg.dport,
                          bytes: bytes, ts: ts, frame: frame)
    }

    /// Whether request bytes name the ODoH media type (RFC 9230 §4.1), in any case.
    static func namesObliviousDNS(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let needle = Array("application/oblivious-dns-message".utf8)
        guard bytes.count >= needle.count else { return false }
        var i = 0
        while i + needle.count <= bytes.count {
            var j = 0
            while j < needle.count && (bytes[i + j] | 0x20) == (needle[j] | 0x20) { j += 1 }
            if j == needle.count { return true }
            i += 1
        }
        return false
    }

    /// Whether a row is a cleartext ODoH connection.
    func isOblivious(_ r: EncryptedDNSOnWire.Row) -> Bool {
        guard r.why == "cleartext", let c = IPAddress(r.client), let s = IPAddress(r.resolver) else { return false }
        return obliviousPaths.contains(ObliviousPath(client: c, server: s, port: UInt16(clamping: r.port)))
    }

    /// Several flow-sharded workers' designations as one (for naming the merged rows).
    static func merged(_ parts: [EncryptedDNSDesignations]) -> EncryptedDNSDesignations {
        let out = EncryptedDNSDesignations()
        for p in parts {
            out.dohNames.merge(p.dohNames) { a, _ in a }
            out.addresses.merge(p.addresses) { a, _ in a }
            out.obliviousPaths.formUnion(p.obliviousPaths)
        }
        return out
    }

    /// Lowercased, without the trailing dot.
    static func bare(_ name: String) -> String {
        let n = name.lowercased()
        return n.hasSuffix(".") ? String(n.dropLast()) : n
    }

    /// Rows named after what identified them: a row to a designated address says which
    /// designation ("ddr NAME"), a DoH row whose ClientHello named an ODoH target or relay is
    /// `ODoH` (with its role).
    func annotate(_ rows: [EncryptedDNSOnWire.Row]) -> [EncryptedDNSOnWire.Row] {
        rows.map { r in
            var r = r
            if r.why.isEmpty || r.why == "ddr", let ip = IPAddress(r.resolver), let why = addresses[ip] { r.why = why }
            return r
        }
    }

    /// The ODoH role of a DoH row identified by a ClientHello's server name (`sni NAME`), if NAME
    /// is a known ODoH target or relay.
    static func odohRole(_ why: String) -> String? {
        guard why.hasPrefix("sni ") else { return nil }
        return ResolverCatalog.odohEndpoints[String(why.dropFirst(4))]
    }
}
