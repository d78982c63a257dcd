import FirewallModel
import NetTypes

/// A reachable NAT rule that diverts traffic (dnat, redirect, tproxy), in a form the capture
/// detectors can correlate with: which traffic it takes and where it sends it.
public struct RedirectRule: Sendable {
    public var input: String
    public var family: String
    public var table: String
    public var chain: String
    /// The base chain the traffic enters through, and its hook.
    public var baseChain: String
    public var hook: String
    public var handle: Int?
    /// 1-based position in its chain (iptables rule number).
    public var position: Int
    public var origin: RuleOrigin
    public var statement: NatKind
    /// The traffic the rule takes (own matches plus those inherited through jumps).
    public var selector: TrafficSelector
    /// Where it goes: addresses (empty = this machine, for redirect/tproxy), and ports (nil = unchanged).
    public var targetAddresses: [String]
    public var targetPorts: PortSet?
    /// False when an untranslated iptables target hides the destination.
    public var targetKnown: Bool
    public var text: String
    /// "prerouting chain → jump dns (handle 12)".
    public var path: String
    /// Set when the rule takes only traffic arriving on the WAN side (the interfaces source NAT
    /// sends traffic out of): a published service. The interfaces, and the source-NAT rules that
    /// make them WAN.
    public var wanInterfaces: [String]? = nil
    public var wanEvidence: [String] = []

    /// Whether a packet to `port` over `proto` (`udp`, `tcp`) can be taken by this rule. A rule
    /// that takes only traffic from the internet addressed to this router (`wanInterfaces`) takes
    /// no client's DNS or TLS: false.
    public func applies(toPort port: UInt16, proto: String) -> Bool {
        wanInterfaces == nil && selector.allows(protocol: proto) && selector.destinationPorts.contains(Int(port))
    }

    /// Whether a packet to `address` can be taken (unknown conditions count as "can").
    public func applies(toDestination address: String) -> Bool {
        guard let a = IPAddress(address) else { return false }
        if selector.excludedDestinations.contains(where: { $0.contains(a) }) { return false }
        if let d = selector.destinations { return d.contains { $0.contains(a) } }
        return true
    }

    /// True for redirect/tproxy and DNAT to a loopback address: something on this machine answers.
    public var rewritesToThisMachine: Bool {
        if statement == .redirect || (statement == .tproxy && targetAddresses.isEmpty) { return true }
        return !targetAddresses.isEmpty && targetAddresses.allSatisfy { AddressRange.parse($0)?.isLoopback ?? false }
    }

    /// The target in CONTRACT.md form for traffic that arrived on `originalPort`:
    /// `ADDR:PORT`, `[V6]:PORT`, `ADDR`, or `:PORT`.
    public func target(forPort originalPort: Int? = nil) -> String {
        guard targetKnown else { return "unknown" }
        let port: String?
        if let tp = targetPorts {
            port = tp.description
        } else if targetAddresses.isEmpty, let p = originalPort {
            port = String(p)
        } else {
            port = nil
        }
        let addr = targetAddresses.first
        switch (addr, port) {
        case (let a?, let p?): return (a.contains(":") ? "[\(a)]" : a) + ":" + p
        case (let a?, nil): return a
        case (nil, let p?): return ":" + p
        case (nil, nil): return "local"
        }
    }

    /// The single target port, if the rule sets exactly one.
    public var targetPort: Int? {
        guard let r = targetPorts?.ranges, r.count == 1, r[0].lowerBound == r[0].upperBound else { return nil }
        return r[0].lowerBound
    }
}

/// The statement of a NAT rule, expanded: one variant per map entry for `dnat to KEY map { … }`.
struct NatVariant {
    var statement: NatKind
    var addresses: [String]
    var ports: PortSet?
    var known: Bool
    /// Extra conditions (the map key matched).
    var conditions: [RuleExpression]

    static func variants(of rule: FirewallRule, sets: (String) -> FirewallSet?) -> [NatVariant] {
        for e in rule.expressions {
            switch e {
            case .nat(let n) where n.kind == .dnat || n.kind == .redirect || n.kind == .tproxy:
                return expand(n, sets: sets)
            case .xt(type: "target", let name) where ["DNAT", "REDIRECT", "TPROXY"].contains(name):
                let kind: NatKind = name == "DNAT" ? .dnat : (name == "REDIRECT" ? .redirect : .tproxy)
                return [NatVariant(statement: kind, addresses: [], ports: nil, known: false, conditions: [])]
            default:
                continue
            }
        }
        return []
    }

    static func expand(_ n: NatStatement, sets: (String) -> FirewallSet?) -> [NatVariant] {
        let ports = n.port.flatMap { PortSet.of($0, sets: sets) }
        let portKnown = n.port == nil || ports != nil
        guard let addr = n.address else {
            return [NatVariant(statement: n.kind, addresses: [], ports: ports, known: portKnown, conditions: [])]
        }
        if case .map(let key, let data) = addr {
            var elements: [NftValue] = []
            if let name = data.setReference {
                guard let s = sets(name) else {
                    return [NatVariant(statement: n.kind, addresses: [], ports: ports, known: false, conditions: [])]
                }
                elements = s.elements
            } else if case .set(let items) = data {
                elements = items
            }
            var out: [NatVariant] = []
            for case .mapping(let k, let v) in elements {
                var (a, p) = split(v)
                if p == nil { p = ports }
                out.append(NatVariant(statement: n.kind, addresses: a, ports: p, known: !a.isEmpty || p != nil,
                                      conditions: [.match(left: key, op: "==", right: k)]))
            }
            return out.isEmpty ? [NatVariant(statement: n.kind, addresses: [], ports: ports, known: false, conditions: [])] : out
        }
        let (a, p) = split(addr)
        return [NatVariant(statement: n.kind, addresses: a, ports: p ?? ports, known: (!a.isEmpty || p != nil) && portKnown, conditions: [])]
    }

    /// An address value → (addresses as text, port when the value is `addr . port`).
    static func split(_ v: NftValue) -> ([String], PortSet?) {
        switch v {
        case .string(let s): return ([normalize(s)], nil)
        case .prefix(let a, let l): return (["\(normalize(a))/\(l)"], nil)
        case .range(let a, let b): return (["\(RuleFormatter.value(a))-\(RuleFormatter.value(b))"], nil)
        case .concat(let parts) where parts.count == 2:
            let (a, _) = split(parts[0])
            return (a, PortSet.of(parts[1], sets: { _ in nil }))
        case .set(let items):
            return (items.flatMap { split($0).0 }, nil)
        default:
            return ([], nil)
        }
    }

    static func normalize(_ s: String) -> String {
        IPAddress(s)?.description ?? s
    }
}
