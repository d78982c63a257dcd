import FirewallModel
import NetTypes

/// A set of ports as sorted, disjoint closed ranges.
public struct PortSet: Sendable, Equatable, CustomStringConvertible {
    public private(set) var ranges: [ClosedRange<Int>]

    public static let all = PortSet(ranges: [0...65535])
    public static let none = PortSet(ranges: [])

    public init(ranges: [ClosedRange<Int>]) {
        self.ranges = PortSet.normalized(ranges)
    }

    static func normalized(_ rs: [ClosedRange<Int>]) -> [ClosedRange<Int>] {
        let clipped = rs.compactMap { r -> ClosedRange<Int>? in
            let lo = max(0, r.lowerBound), hi = min(65535, r.upperBound)
            return lo <= hi ? lo...hi : nil
        }.sorted { $0.lowerBound < $1.lowerBound }
        var out: [ClosedRange<Int>] = []
        for r in clipped {
            if let last = out.last, r.lowerBound <= last.upperBound + 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    public func contains(_ p: Int) -> Bool { ranges.contains { $0.contains(p) } }
    public var isAll: Bool { ranges == [0...65535] }
    public var isEmpty: Bool { ranges.isEmpty }

    public func intersection(_ o: PortSet) -> PortSet {
        var out: [ClosedRange<Int>] = []
        for a in ranges {
            for b in o.ranges {
                let lo = max(a.lowerBound, b.lowerBound), hi = min(a.upperBound, b.upperBound)
                if lo <= hi { out.append(lo...hi) }
            }
        }
        return PortSet(ranges: out)
    }

    public var complement: PortSet {
        var out: [ClosedRange<Int>] = []
        var next = 0
        for r in ranges {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= 65535 { out.append(next...65535) }
        return PortSet(ranges: out)
    }

    public var description: String {
        if isAll { return "any" }
        return ranges.map { $0.lowerBound == $0.upperBound ? String($0.lowerBound) : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",")
    }
}

/// What traffic a rule applies to, from its own matches and those inherited along its path.
/// Only what matters for DNS/TLS interception is modelled; the rest is kept as "other conditions".
public struct TrafficSelector: Sendable {
    /// Transport protocols allowed; nil = any.
    public var protocols: Set<String>?
    public var destinationPorts = PortSet.all
    /// True when a positive port match (`dport 53`, `dport { 53, 853 }`) narrowed the ports, as
    /// opposed to an exclusion (`dport != 22`) or no port match at all.
    public var portsNamed = false
    /// Destination address ranges the traffic must be in (positive matches); nil = any.
    public var destinations: [AddressRange]?
    /// Destination ranges excluded (`ip daddr != …`).
    public var excludedDestinations: [AddressRange] = []
    /// `fib daddr type local` / `-m addrtype --dst-type LOCAL`: only traffic addressed to this machine.
    public var localDestinationOnly = false
    /// `meta nfproto ipv4|ipv6` in inet tables.
    public var nfproto: String?
    /// Conditions that could not be evaluated (an untranslated iptables match, an unknown set).
    public var unknownConditions: [String] = []
    /// Other conditions (interfaces, source addresses, marks, …), as text, for the report.
    public var otherConditions: [String] = []
    /// Input interface names a packet must arrive on (`iifname`/`iif`/`-i`, `*` = wildcard suffix); nil = any.
    public var inInterfaces: [String]?
    /// Input interface names excluded (`iifname != …`, `! -i …`).
    public var excludedInInterfaces: [String] = []
    /// Output interface names (`oifname`/`oif`/`-o`); nil = any.
    public var outInterfaces: [String]?
    public var excludedOutInterfaces: [String] = []
    /// `ct state` values a packet must have (`ct state established,related`); nil = any.
    public var ctStates: Set<String>?
    /// `ct state` values excluded (`ct state != new`).
    public var excludedCTStates: Set<String> = []

    static let transportProtocols: Set<String> = ["tcp", "udp", "udplite", "sctp", "dccp"]

    public init() {}

    public init(_ expressions: [RuleExpression], sets: (String) -> FirewallSet?) {
        for e in expressions {
            switch e {
            case .match(let left, let op, let right):
                apply(left, op, right, sets: sets)
            case .xt(type: "match", let name):
                unknownConditions.append("iptables match '\(name)' (parameters not available)")
            default:
                continue
            }
        }
    }

    /// Whether traffic with this transport can match.
    public func allows(protocol p: String) -> Bool { protocols?.contains(p) ?? true }

    public var allowsTCPorUDP: Bool { allows(protocol: "tcp") || allows(protocol: "udp") }

    /// The protocols among tcp/udp that can match, e.g. "udp" or "tcp+udp".
    public var transportText: String {
        ["tcp", "udp"].filter { allows(protocol: $0) }.joined(separator: "+")
    }

    mutating func restrictProtocols(_ ps: Set<String>) {
        protocols = protocols.map { $0.intersection(ps) } ?? ps
    }

    mutating func apply(_ left: Operand, _ op: String, _ right: NftValue, sets: (String) -> FirewallSet?) {
        switch left {
        case .payload(let proto, let field) where field == "dport" || field == "sport":
            if TrafficSelector.transportProtocols.contains(proto) { restrictProtocols([proto]) }
            guard field == "dport" else { otherConditions.append("\(proto) sport \(op) \(RuleFormatter.value(right))"); return }
            guard let ports = PortSet.of(right, sets: sets) else {
                unknownConditions.append("destination port \(RuleFormatter.value(right)) (unknown set)")
                return
            }
            switch op {
            case "==":
                destinationPorts = destinationPorts.intersection(ports)
                portsNamed = true
            case "!=": destinationPorts = destinationPorts.intersection(ports.complement)
            case "<", "<=", ">", ">=":
                guard let bound = ports.ranges.first?.lowerBound else { return }
                let r: ClosedRange<Int>
                switch op {
                case "<": r = 0...max(0, bound - 1)
                case "<=": r = 0...bound
                case ">": r = min(65535, bound + 1)...65535
                default: r = bound...65535
                }
                destinationPorts = destinationPorts.intersection(PortSet(ranges: [r]))
                portsNamed = true
            default:
                unknownConditions.append("destination port \(op) \(RuleFormatter.value(right))")
            }
        case .meta("l4proto"), .payload(protocol: "ip", field: "protocol"), .payload(protocol: "ip6", field: "nexthdr"):
            let names = TrafficSelector.symbols(right)
            guard !names.isEmpty else { return }
            let named = Set(names.map { ["6": "tcp", "17": "udp"][$0] ?? $0 })
            if op == "==" { restrictProtocols(named) } else if op == "!=" {
                protocols = (protocols ?? TrafficSelector.transportProtocols.union(["icmp", "icmpv6"])).subtracting(named)
            }
        case .meta("nfproto"):
            if op == "==", case .string(let s) = right { nfproto = s }
        case .payload(let proto, "daddr") where proto == "ip" || proto == "ip6":
            guard let rs = AddressRange.ranges(of: right, sets: sets) else {
                unknownConditions.append("\(proto) daddr \(op) \(RuleFormatter.value(right))")
                return
            }
            if op == "==" {
                destinations = destinations.map { cur in cur.filter { c in rs.contains { $0.overlaps(c) } } } ?? rs
            } else if op == "!=" {
                excludedDestinations += rs
            } else {
                otherConditions.append("\(proto) daddr \(op) \(RuleFormatter.value(right))")
            }
        case .fib(let result, let flags) where result == "type" && flags.contains("daddr"):
            let types = TrafficSelector.symbols(right)
            if op == "==" && !types.isEmpty && types.allSatisfy({ $0 == "local" }) {
                localDestinationOnly = true
            } else {
                otherConditions.append(RuleFormatter.expression(.match(left: left, op: op, right: right)))
            }
        case .meta(let key) where ["iifname", "iif", "oifname", "oif"].contains(key):
            var names = TrafficSelector.symbols(right)
            if let set = right.setReference.flatMap(sets) { names = set.elements.flatMap(TrafficSelector.symbols) }
            let input = key.hasPrefix("i")
            if op == "==" && !names.isEmpty {
                if input {
                    inInterfaces = inInterfaces.map { cur in cur.filter { c in names.contains { TrafficSelector.interface($0, overlaps: c) } } } ?? names
                } else {
                    outInterfaces = outInterfaces.map { cur in cur.filter { c in names.contains { TrafficSelector.interface($0, overlaps: c) } } } ?? names
                }
            } else if op == "!=" && !names.isEmpty {
                if input { excludedInInterfaces += names } else { excludedOutInterfaces += names }
            }
            otherConditions.append(RuleFormatter.expression(.match(left: left, op: op, right: right)))
        case .ct("state"):
            // `ct state established,related` is `in` with a list in nft's JSON (a flag match: any of them).
            let states = Set(TrafficSelector.flagSymbols(right).flatMap { $0.split(separator: ",").map { String($0).lowercased() } })
            if (op == "==" || op == "in") && !states.isEmpty {
                ctStates = ctStates.map { $0.intersection(states) } ?? states
            } else if op == "!=" {
                excludedCTStates.formUnion(states)
            }
            otherConditions.append(RuleFormatter.expression(.match(left: left, op: op, right: right)))
        case .other(let s) where right == .unknown(""):
            // iptables options this tool does not interpret.
            otherConditions.append(s)
        default:
            otherConditions.append(RuleFormatter.expression(.match(left: left, op: op, right: right)))
        }
    }

    /// Whether two interface names (either may end in the `*` wildcard) can name the same interface.
    static func interface(_ a: String, overlaps b: String) -> Bool {
        let wa = a.hasSuffix("*"), wb = b.hasSuffix("*")
        let pa = wa ? String(a.dropLast()) : a, pb = wb ? String(b.dropLast()) : b
        switch (wa, wb) {
        case (false, false): return a == b
        case (true, false): return pb.hasPrefix(pa)
        case (false, true): return pa.hasPrefix(pb)
        case (true, true): return pa.hasPrefix(pb) || pb.hasPrefix(pa)
        }
    }

    /// Whether every interface `name` can stand for (a `*` wildcard included) is covered by `by`.
    static func interface(_ name: String, coveredBy by: String) -> Bool {
        if by.hasSuffix("*") {
            let p = String(by.dropLast())
            return (name.hasSuffix("*") ? String(name.dropLast()) : name).hasPrefix(p)
        }
        return !name.hasSuffix("*") && name == by
    }

    /// Whether a new connection (ct state new) can match.
    public var allowsNewConnections: Bool {
        if excludedCTStates.contains("new") { return false }
        if let s = ctStates { return s.contains("new") || s.contains("untracked") }
        return true
    }

    /// Symbols of a flag value, whatever shape the source gave the list (`a,b`, `{ a, b }`, JSON `[a, b]`).
    static func flagSymbols(_ v: NftValue) -> [String] {
        switch v {
        case .mapping(let a, let b): return flagSymbols(a) + flagSymbols(b)
        case .concat(let items), .set(let items): return items.flatMap(flagSymbols)
        default: return symbols(v)
        }
    }

    static func symbols(_ v: NftValue) -> [String] {
        switch v {
        case .string(let s): return [s]
        case .number(let n): return [String(n)]
        case .set(let items): return items.flatMap(symbols)
        default: return []
        }
    }
}

extension PortSet {
    /// Ports a value denotes: a number, a range, an anonymous or named set. nil when unknown.
    static func of(_ v: NftValue, sets: (String) -> FirewallSet?) -> PortSet? {
        switch v {
        case .number(let n): return PortSet(ranges: [n...n])
        case .string(let s):
            if let name = v.setReference {
                guard let set = sets(name) else { return nil }
                return of(.set(set.elements), sets: { _ in nil })
            }
            if let n = Int(s) { return PortSet(ranges: [n...n]) }
            return nil
        case .range(let a, let b):
            guard let lo = of(a, sets: sets)?.ranges.first?.lowerBound, let hi = of(b, sets: sets)?.ranges.last?.upperBound, lo <= hi else {
                return nil
            }
            return PortSet(ranges: [lo...hi])
        case .set(let items):
            var out: [ClosedRange<Int>] = []
            for i in items {
                guard let p = of(i, sets: sets) else { return nil }
                out += p.ranges
            }
            return PortSet(ranges: out)
        case .mapping(let k, _):
            return of(k, sets: sets)
        default:
            return nil
        }
    }
}
