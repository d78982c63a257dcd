import FirewallModel

/// A rule that packets can reach, and how: from which base chain, through which jumps.
public struct ReachableRule: Sendable {
    public var rule: FirewallRule
    /// Index of the rule in `Ruleset.rules` (identity when handles are missing).
    public var index: Int
    /// The base chain the path starts in (its hook is where the traffic enters).
    public var base: FirewallChain
    /// The rules that jumped here (jump, goto, verdict-map), outermost first.
    public var via: [FirewallRule]
    /// Conditions inherited from those rules (their matches, and `key == value` for map entries).
    public var inherited: [RuleExpression]
}

/// Walks every base chain, following `jump`, `goto` and verdict maps, so that only rules a packet
/// can reach count. Bounded against hostile rulesets (cycles, deep nesting, huge fan-out).
public struct ReachabilityWalker {
    public static let maxDepth = 32
    public static let maxVisits = 500_000

    let ruleset: Ruleset
    private var chainRules: [String: [Int]] = [:]
    private var chainsByKey: [String: FirewallChain] = [:]
    private(set) var reached: [ReachableRule] = []
    private var visits = 0
    /// True when the walk stopped early at the bounds.
    public private(set) var truncated = false

    public init(_ ruleset: Ruleset) {
        self.ruleset = ruleset
        for (k, r) in ruleset.rules.enumerated() {
            chainRules[Self.key(r.family, r.table, r.chain), default: []].append(k)
        }
        for c in ruleset.chains where chainsByKey[Self.key(c.family, c.table, c.name)] == nil {
            chainsByKey[Self.key(c.family, c.table, c.name)] = c
        }
    }

    static func key(_ f: String, _ t: String, _ c: String) -> String { f + "\u{1}" + t + "\u{1}" + c }

    public static func walk(_ ruleset: Ruleset) -> (rules: [ReachableRule], truncated: Bool) {
        var w = ReachabilityWalker(ruleset)
        let bases = ruleset.chains.filter(\.isBase)
        for b in bases {
            var stack: Set<String> = []
            w.visit(chain: b, base: b, via: [], inherited: [], depth: 0, stack: &stack)
        }
        return (w.reached, w.truncated)
    }

    private mutating func visit(chain: FirewallChain, base: FirewallChain, via: [FirewallRule], inherited: [RuleExpression],
                                depth: Int, stack: inout Set<String>) {
        let key = Self.key(chain.family, chain.table, chain.name)
        guard depth <= Self.maxDepth, !stack.contains(key) else { return }
        stack.insert(key)
        defer { stack.remove(key) }
        for idx in chainRules[key] ?? [] {
            visits += 1
            if visits > Self.maxVisits { truncated = true; return }
            let rule = ruleset.rules[idx]
            reached.append(ReachableRule(rule: rule, index: idx, base: base, via: via, inherited: inherited))
            let matches = rule.expressions.filter { if case .match = $0 { return true } else { return false } }
            for e in rule.expressions {
                switch e {
                case .verdict(.jump(let target)), .verdict(.goto(let target)):
                    follow(target, from: chain, base: base, via: via + [rule], inherited: inherited + matches, depth: depth, stack: &stack)
                case .vmap(let keyOperand, let data):
                    for (value, verdict) in mapEntries(data, in: chain) {
                        switch verdict {
                        case .jump(let target)?, .goto(let target)?:
                            follow(target, from: chain, base: base, via: via + [rule],
                                   inherited: inherited + matches + [.match(left: keyOperand, op: "==", right: value)],
                                   depth: depth, stack: &stack)
                        default:
                            continue
                        }
                    }
                default:
                    continue
                }
            }
            if Self.endsChain(rule) { break }
        }
    }

    private mutating func follow(_ target: String, from chain: FirewallChain, base: FirewallChain, via: [FirewallRule],
                                 inherited: [RuleExpression], depth: Int, stack: inout Set<String>) {
        let next = chainsByKey[Self.key(chain.family, chain.table, target)]
            ?? FirewallChain(family: chain.family, table: chain.table, name: target)
        visit(chain: next, base: base, via: via, inherited: inherited, depth: depth + 1, stack: &stack)
    }

    /// `(key value, verdict)` pairs of an anonymous verdict map or a named one.
    private func mapEntries(_ data: NftValue, in chain: FirewallChain) -> [(NftValue, Verdict?)] {
        var elements: [NftValue] = []
        if let name = data.setReference {
            elements = ruleset.set(family: chain.family, table: chain.table, name: name)?.elements ?? []
        } else if case .set(let items) = data {
            elements = items
        }
        return elements.compactMap { e in
            guard case .mapping(let k, let v) = e else { return nil }
            if case .verdict(let verdict) = v { return (k, verdict) }
            return (k, nil)
        }
    }

    /// A rule without conditions that ends the chain (`accept`, `drop`, `return`, `goto`, …):
    /// rules after it are never reached.
    static func endsChain(_ rule: FirewallRule) -> Bool {
        var unconditional = true
        for e in rule.expressions {
            switch e {
            case .match, .vmap, .xt(type: "match", _): unconditional = false
            case .verdict(let v):
                switch v {
                case .accept, .drop, .reject, .return, .goto: return unconditional
                case .jump, .continue, .queue: continue
                }
            default: continue
            }
        }
        return false
    }
}
