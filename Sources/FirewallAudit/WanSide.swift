import FirewallModel

/// The WAN side of a NAT router, inferred the way an engineer reads the ruleset: an interface that
/// a `masquerade` / `snat` rule sends traffic out of (`oifname` / `-o`) is where the internet is.
/// Traffic that a DNAT takes only when it arrives on that interface comes from the internet,
/// addressed to the router itself: publishing an internal server diverts nobody's DNS or TLS.
struct WanSide {
    /// WAN interface name (may end in the `*` wildcard) → the rule that named it, for the evidence.
    private(set) var wan: [(name: String, rule: String)] = []
    /// Interfaces named as the source side of a masquerade / snat rule (`iifname "lan0" … masquerade`).
    private(set) var lan: [String] = []

    var isEmpty: Bool { wan.isEmpty }

    /// From the reachable rules of one ruleset: source NAT in a postrouting base chain.
    static func infer(_ reached: [ReachableRule], in rs: Ruleset, describe: (ReachableRule) -> String) -> WanSide {
        var side = WanSide()
        var candidates: [(name: String, rule: String)] = []
        for rr in reached where rr.base.hook == "postrouting" {
            let snat = rr.rule.expressions.contains { e in
                switch e {
                case .nat(let n): return n.kind == .masquerade || n.kind == .snat
                case .xt(type: "target", let name): return name == "MASQUERADE" || name == "SNAT"
                default: return false
                }
            }
            guard snat else { continue }
            let sel = TrafficSelector(rr.inherited + rr.rule.expressions, sets: { rs.set(family: rr.rule.family, table: rr.rule.table, name: $0) })
            let ins = sel.inInterfaces ?? []
            side.lan += ins
            // Source NAT towards named destinations only (a VPN peer, NAT reflection back into the
            // LAN) says nothing about where the internet is.
            guard sel.destinations == nil, let outs = sel.outInterfaces else { continue }
            for o in outs {
                // Hairpin NAT (in and out on the same interface) is the LAN, not the WAN.
                if ins.contains(where: { TrafficSelector.interface($0, overlaps: o) }) { continue }
                candidates.append((o, describe(rr)))
            }
        }
        side.wan = candidates.filter { c in !side.lan.contains { TrafficSelector.interface($0, overlaps: c.name) } }
        return side
    }

    /// When traffic with this selector can only arrive on WAN interfaces (a positive input-interface
    /// match, every name covered by a WAN interface and none a LAN one): the interfaces and the
    /// source-NAT rules that make them WAN.
    func arrivesOnlyFromWAN(_ sel: TrafficSelector) -> (interfaces: [String], rules: [String])? {
        guard !wan.isEmpty, let ins = sel.inInterfaces, !ins.isEmpty else { return nil }
        var rules: [String] = []
        for i in ins {
            guard !lan.contains(where: { TrafficSelector.interface($0, overlaps: i) }) else { return nil }
            let covering = wan.filter { TrafficSelector.interface(i, coveredBy: $0.name) }
            guard !covering.isEmpty else { return nil }
            for c in covering where !rules.contains(c.rule) { rules.append(c.rule) }
        }
        return (ins, rules)
    }
}
