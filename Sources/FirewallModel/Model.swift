/// The firewall model: what nftables (JSON or text) and iptables-save listings hold, in one shape.
/// Nothing here knows about findings; `FirewallAudit` interprets it.

/// Who made a rule: nft itself, iptables-nft (rules in nf_tables made through the iptables
/// front end), or iptables-legacy (x_tables, invisible to libnftables). Names per CONTRACT.md.
public enum RuleOrigin: String, Sendable, Hashable, CaseIterable {
    case nft
    case iptablesNFT = "iptables-nft"
    case iptablesLegacy = "iptables-legacy"
}

/// A value on the right side of a match, inside a set, or in a statement.
public indirect enum NftValue: Sendable, Equatable, Hashable {
    case number(Int)
    /// A symbol (`udp`, `local`), an address, an interface name, or a set reference (`@name`).
    case string(String)
    /// An anonymous set `{ a, b }`.
    case set([NftValue])
    case range(NftValue, NftValue)
    case prefix(String, Int)
    case concat([NftValue])
    /// One element of a map: `key : value`.
    case mapping(NftValue, NftValue)
    case verdict(Verdict)
    /// An expression used as a value (`ip daddr` in `dnat to ip daddr map { … }`).
    case operand(Operand)
    /// `KEY map DATA` (an anonymous map or `@name`).
    case map(key: Operand, data: NftValue)
    /// Anything else, kept as text so it can be shown.
    case unknown(String)

    /// `@name` → `name`.
    public var setReference: String? {
        if case .string(let s) = self, s.hasPrefix("@"), s.count > 1 { return String(s.dropFirst()) }
        return nil
    }
}

/// The left side of a match: what is being looked at.
public enum Operand: Sendable, Equatable, Hashable {
    /// `udp dport`, `ip daddr`, `th dport`, …
    case payload(protocol: String, field: String)
    /// `meta l4proto`, `iifname` (shown without `meta`), …
    case meta(String)
    /// `ct state`, `ct original daddr`, …
    case ct(String)
    /// `fib daddr type` → result `type`, flags `["daddr"]`.
    case fib(result: String, flags: [String])
    /// Anything else, as text.
    case other(String)
}

public enum Verdict: Sendable, Equatable, Hashable {
    case accept, drop, `continue`, `return`, queue
    /// `reject`, with its `with …` detail when given.
    case reject(String?)
    case jump(String)
    case goto(String)
}

public enum NatKind: String, Sendable, Hashable {
    case dnat, snat, masquerade, redirect, tproxy
}

/// `dnat ip to 10.0.0.5:53`, `redirect to :5353`, `tproxy to :3130`, `masquerade`, …
public struct NatStatement: Sendable, Equatable, Hashable {
    public var kind: NatKind
    /// `ip` / `ip6` in inet tables (`dnat ip to …`).
    public var family: String?
    public var address: NftValue?
    public var port: NftValue?

    public init(kind: NatKind, family: String? = nil, address: NftValue? = nil, port: NftValue? = nil) {
        self.kind = kind
        self.family = family
        self.address = address
        self.port = port
    }
}

/// One element of a rule, in rule order.
public enum RuleExpression: Sendable, Equatable, Hashable {
    /// `left op right`; op is `==`, `!=`, `<`, `>`, `<=`, `>=`, `in`, …
    case match(left: Operand, op: String, right: NftValue)
    case nat(NatStatement)
    case verdict(Verdict)
    /// `KEY vmap { value : verdict, … }` or `KEY vmap @name`.
    case vmap(key: Operand, data: NftValue)
    /// An iptables-nft extension nft could not translate (`{"xt":{"type":"target","name":"DNAT"}}`).
    case xt(type: String, name: String)
    /// Statements that do not change where a packet goes (counter, log, limit, mark, …): name only.
    case other(String)
}

public struct FirewallTable: Sendable, Equatable {
    public var family: String
    public var name: String
    public var handle: Int?

    public init(family: String, name: String, handle: Int? = nil) {
        self.family = family
        self.name = name
        self.handle = handle
    }
}

public struct FirewallChain: Sendable, Equatable {
    public var family: String
    public var table: String
    public var name: String
    public var handle: Int?
    /// `filter`, `nat`, `route` (base chains only).
    public var type: String?
    /// `prerouting`, `input`, `forward`, `output`, `postrouting`, `ingress`, `egress`.
    public var hook: String?
    public var priority: Int?
    /// `accept` or `drop`.
    public var policy: String?

    public init(family: String, table: String, name: String, handle: Int? = nil, type: String? = nil,
                hook: String? = nil, priority: Int? = nil, policy: String? = nil) {
        self.family = family
        self.table = table
        self.name = name
        self.handle = handle
        self.type = type
        self.hook = hook
        self.priority = priority
        self.policy = policy
    }

    /// Base chains are attached to a hook; packets enter only there.
    public var isBase: Bool { hook != nil }
}

public struct FirewallRule: Sendable, Equatable {
    public var family: String
    public var table: String
    public var chain: String
    /// The nft handle; for iptables-save input, the rule's 1-based position in its chain
    /// (what `iptables -L --line-numbers` shows and `iptables -D CHAIN N` takes).
    public var handle: Int?
    public var expressions: [RuleExpression]
    /// The rule as the source wrote it (nft text or the iptables-save line), when known.
    public var text: String?
    public var comment: String?
    public var origin: RuleOrigin

    public init(family: String, table: String, chain: String, handle: Int? = nil, expressions: [RuleExpression],
                text: String? = nil, comment: String? = nil, origin: RuleOrigin = .nft) {
        self.family = family
        self.table = table
        self.chain = chain
        self.handle = handle
        self.expressions = expressions
        self.text = text
        self.comment = comment
        self.origin = origin
    }

    public var hasUntranslatedExtensions: Bool {
        expressions.contains { if case .xt = $0 { return true } else { return false } }
    }
}

/// A named set or map.
public struct FirewallSet: Sendable, Equatable {
    public var family: String
    public var table: String
    public var name: String
    /// Key type, e.g. `ipv4_addr`, `inet_service`.
    public var type: String
    /// For maps: the data type (`verdict`, `ipv4_addr`, …).
    public var mapType: String?
    /// Elements; for maps, `.mapping(key, value)`.
    public var elements: [NftValue]

    public init(family: String, table: String, name: String, type: String, mapType: String? = nil, elements: [NftValue] = []) {
        self.family = family
        self.table = table
        self.name = name
        self.type = type
        self.mapType = mapType
        self.elements = elements
    }
}

/// One ruleset from one source (libnftables, a file, iptables-legacy-save).
public struct Ruleset: Sendable, Equatable {
    public var tables: [FirewallTable] = []
    public var chains: [FirewallChain] = []
    /// In chain order within each chain.
    public var rules: [FirewallRule] = []
    public var sets: [FirewallSet] = []

    public init(tables: [FirewallTable] = [], chains: [FirewallChain] = [], rules: [FirewallRule] = [], sets: [FirewallSet] = []) {
        self.tables = tables
        self.chains = chains
        self.rules = rules
        self.sets = sets
    }

    public var isEmpty: Bool { tables.isEmpty && chains.isEmpty && rules.isEmpty }

    public func chain(family: String, table: String, name: String) -> FirewallChain? {
        chains.first { $0.family == family && $0.table == table && $0.name == name }
    }

    public func rules(family: String, table: String, chain: String) -> [FirewallRule] {
        rules.filter { $0.family == family && $0.table == table && $0.chain == chain }
    }

    public func set(family: String, table: String, name: String) -> FirewallSet? {
        sets.first { $0.family == family && $0.table == table && $0.name == name }
    }
}

/// A ruleset that could not be read: one line for the user.
public struct FirewallParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
