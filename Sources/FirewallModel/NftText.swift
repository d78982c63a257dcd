/// `nft list ruleset` text (and hand-written `nft -f` files) → `Ruleset`, without the kernel.
///
/// dnsaudit prefers to let nft itself read a text file (in a private namespace) and list it back
/// as JSON; this parser is the fallback where that is impossible, and it reads single rules from
/// libnftables' text listing to recover what JSON leaves out for iptables-nft rules.
public enum NftTextParser {
    static let families: Set<String> = ["ip", "ip6", "inet", "arp", "bridge", "netdev"]

    /// Named priorities (nft(8), "PRIORITY").
    static let priorities: [String: Int] = [
        "raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100, "out": 100,
    ]

    public static func parse(_ text: String) throws -> Ruleset {
        var p = FileParser(tokens: NftTokenizer.tokenize(Array(text.utf8)), source: Array(text.utf8))
        try p.parseFile()
        var rs = p.ruleset
        OriginHeuristics.apply(&rs, managedTables: p.managedTables)
        return rs
    }

    /// Parses one listed rule (`… dnat to 10.0.0.5 # handle 4`) into expressions.
    public static func parseRule(_ text: String) -> (expressions: [RuleExpression], handle: Int?, comment: String?) {
        let tokens = NftTokenizer.tokenize(Array(text.utf8))
        var handle: Int?
        for tok in tokens { if case .handle(let h) = tok.kind { handle = h } }
        let r = NftRuleTextParser.parse(tokens)
        return (r.expressions, handle, r.comment)
    }

    /// Tables named in libnftables' `# Warning: table ip nat is managed by iptables-nft, do not touch!`.
    public static func managedTables(in text: String) -> Set<String> {
        var out = Set<String>()
        for line in text.split(separator: "\n") {
            guard let r = line.range(of: "Warning: table ") else { continue }
            let words = line[r.upperBound...].split(separator: " ")
            if words.count >= 4, words[2] == "is", words[3] == "managed" { out.insert("\(words[0]) \(words[1])") }
        }
        return out
    }

    struct FileParser {
        let tokens: [NftToken]
        let source: [UInt8]
        var i = 0
        var ruleset = Ruleset()
        var managedTables = Set<String>()

        init(tokens: [NftToken], source: [UInt8]) {
            self.tokens = tokens
            self.source = source
        }

        func peek(_ k: Int = 0) -> NftToken? { i + k < tokens.count ? tokens[i + k] : nil }
        mutating func next() -> NftToken? {
            guard i < tokens.count else { return nil }
            defer { i += 1 }
            return tokens[i]
        }

        func fail(_ what: String, _ tok: NftToken?) -> FirewallParseError {
            guard let tok else { return FirewallParseError("unexpected end of file: \(what)") }
            let shown = tok.kind == .newline ? "end of line" : "'\(tok.text.prefix(40))'"
            return FirewallParseError("line \(tok.line): \(what), found \(shown)")
        }

        mutating func skipSeparators() {
            while let t = peek() {
                switch t.kind {
                case .newline, .semicolon: i += 1
                case .comment:
                    if t.text.hasPrefix("Warning: table") { managedTables.formUnion(NftTextParser.managedTables(in: t.text)) }
                    i += 1
                default: return
                }
            }
        }

        mutating func name(_ what: String) throws -> String {
            guard let t = next(), t.kind == .word || t.kind == .quoted else { throw fail("expected \(what)", peek(-1)) }
            return t.text
        }

        mutating func expect(_ kind: NftToken.Kind, _ what: String) throws {
            guard let t = next(), t.kind == kind else { throw fail("expected \(what)", peek(-1)) }
        }

        /// `[family] name`; the family defaults to `ip` as in nft.
        mutating func familyAndName() throws -> (String, String) {
            guard let first = peek(), first.kind == .word || first.kind == .quoted else { throw fail("expected a table name", peek()) }
            if first.kind == .word, NftTextParser.families.contains(first.text), let second = peek(1),
               second.kind == .word || second.kind == .quoted {
                i += 2
                return (first.text, second.text)
            }
            i += 1
            return ("ip", first.text)
        }

        /// The tokens up to the end of the statement (newline or `;` outside braces, or the `}`
        /// that closes the enclosing block, which is left unread).
        mutating func statementTokens() -> [NftToken] {
            var out: [NftToken] = []
            var depth = 0
            while let t = peek() {
                if t.kind == .openBrace { depth += 1 }
                if t.kind == .closeBrace {
                    if depth == 0 { break }
                    depth -= 1
                }
                if depth == 0 && t.isEndOfStatement { break }
                out.append(t)
                i += 1
            }
            return out
        }

        mutating func skipToEndOfStatement() {
            _ = statementTokens()
        }

        mutating func skipBlock() throws {
            try expect(.openBrace, "'{'")
            var depth = 1
            while let t = next() {
                if t.kind == .openBrace { depth += 1 }
                if t.kind == .closeBrace { depth -= 1; if depth == 0 { return } }
            }
            throw fail("unclosed '{'", nil)
        }

        mutating func addTable(_ family: String, _ name: String, handle: Int?) {
            if !ruleset.tables.contains(where: { $0.family == family && $0.name == name }) {
                ruleset.tables.append(FirewallTable(family: family, name: name, handle: handle))
            }
        }

        mutating func trailingHandle() -> Int? {
            if let t = peek(), case .handle(let h) = t.kind { i += 1; return h }
            return nil
        }

        mutating func parseFile() throws {
            while true {
                skipSeparators()
                guard let t = peek() else { return }
                guard t.kind == .word else { throw fail("expected a command such as 'table'", t) }
                switch t.text {
                case "table":
                    i += 1
                    let (family, name) = try familyAndName()
                    if peek()?.kind == .openBrace {
                        i += 1
                        let h = trailingHandle()
                        addTable(family, name, handle: h)
                        try tableBody(family, name)
                    } else {
                        addTable(family, name, handle: nil)
                    }
                case "add", "create", "insert", "replace":
                    i += 1
                    try command()
                case "flush", "delete", "destroy", "reset", "list", "monitor", "describe", "rename", "export":
                    i += 1
                    skipToEndOfStatement()
                case "include":
                    throw FirewallParseError("line \(t.line): 'include' files cannot be followed without nft; list the complete ruleset with 'nft list ruleset' instead")
                default:
                    throw fail("expected a command such as 'table'", t)
                }
            }
        }

        /// `add table|chain|rule|set|map|element …` in script style.
        mutating func command() throws {
            let what = try name("an object type after 'add'")
            switch what {
            case "table":
                let (family, tname) = try familyAndName()
                addTable(family, tname, handle: nil)
                if peek()?.kind == .openBrace { i += 1; try tableBody(family, tname) }
            case "chain":
                let (family, tname) = try familyAndName()
                let cname = try name("a chain name")
                addTable(family, tname, handle: nil)
                var chain = FirewallChain(family: family, table: tname, name: cname)
                if peek()?.kind == .openBrace {
                    i += 1
                    try chainBody(&chain)
                } else {
                    upsert(chain)
                }
            case "rule":
                let (family, tname) = try familyAndName()
                let cname = try name("a chain name")
                var ruleTokens = statementTokens()
                // `add rule … position N` / `index N` / `handle N` prefixes.
                while let f = ruleTokens.first, f.isWord("position") || f.isWord("index") || f.isWord("handle") {
                    ruleTokens.removeFirst(min(2, ruleTokens.count))
                }
                addTable(family, tname, handle: nil)
                if ruleset.chain(family: family, table: tname, name: cname) == nil {
                    ruleset.chains.append(FirewallChain(family: family, table: tname, name: cname))
                }
                appendRule(family, tname, cname, ruleTokens)
            case "set", "map":
                let (family, tname) = try familyAndName()
                let sname = try name("a set name")
                addTable(family, tname, handle: nil)
                if peek()?.kind == .openBrace { i += 1; try setBody(family, tname, sname, isMap: what == "map") }
            case "element":
                let (family, tname) = try familyAndName()
                let sname = try name("a set name")
                if peek()?.kind == .openBrace {
                    var p = NftRuleTextParser.elementsParser(Array(tokens[i...]))
                    let elems = p.elements()
                    i += p.consumed
                    if let k = ruleset.sets.firstIndex(where: { $0.family == family && $0.table == tname && $0.name == sname }) {
                        ruleset.sets[k].elements += elems
                    }
                }
            default:
                skipToEndOfStatement()
            }
        }

        mutating func upsert(_ chain: FirewallChain) {
            if let k = ruleset.chains.firstIndex(where: { $0.family == chain.family && $0.table == chain.table && $0.name == chain.name }) {
                var c = ruleset.chains[k]
                if chain.hook != nil {
                    c.type = chain.type
                    c.hook = chain.hook
                    c.priority = chain.priority
                }
                if chain.policy != nil { c.policy = chain.policy }
                if chain.handle != nil { c.handle = chain.handle }
                ruleset.chains[k] = c
            } else {
                ruleset.chains.append(chain)
            }
        }

        mutating func tableBody(_ family: String, _ table: String) throws {
            while true {
                skipSeparators()
                guard let t = peek() else { throw fail("unclosed table \(family) \(table)", nil) }
                if t.kind == .closeBrace { i += 1; return }
                guard t.kind == .word else { throw fail("expected 'chain', 'set' or 'map' in table \(table)", t) }
                switch t.text {
                case "chain":
                    i += 1
                    let cname = try name("a chain name")
                    try expect(.openBrace, "'{' after chain \(cname)")
                    var chain = FirewallChain(family: family, table: table, name: cname, handle: trailingHandle())
                    try chainBody(&chain)
                case "set", "map":
                    i += 1
                    let sname = try name("a set name")
                    try expect(.openBrace, "'{' after set \(sname)")
                    _ = trailingHandle()
                    try setBody(family, table, sname, isMap: t.text == "map")
                case "flags", "comment":
                    i += 1
                    skipToEndOfStatement()
                case "flowtable", "counter", "quota", "limit", "secmark", "synproxy", "ct":
                    i += 1
                    while let u = peek(), u.kind == .word || u.kind == .quoted { i += 1 }
                    try skipBlock()
                default:
                    throw fail("expected 'chain', 'set' or 'map' in table \(table)", t)
                }
            }
        }

        /// After `chain NAME {`: `type … hook … priority …; policy …;` and rules, up to `}`.
        mutating func chainBody(_ chain: inout FirewallChain) throws {
            while true {
                skipSeparators()
                guard let t = peek() else { throw fail("unclosed chain \(chain.name)", nil) }
                if t.kind == .closeBrace { i += 1; break }
                if t.isWord("type"), peek(2)?.isWord("hook") == true {
                    i += 1
                    chain.type = try name("a chain type")
                    i += 1
                    chain.hook = try name("a hook")
                    while let u = peek(), u.kind == .word {
                        if u.text == "device" { i += 2; continue }
                        if u.text == "devices" {
                            i += 1
                            if peek()?.isWord("=") == true { i += 1 }
                            if peek()?.kind == .openBrace { try skipBlock() } else { i += 1 }
                            continue
                        }
                        if u.text == "priority" {
                            i += 1
                            chain.priority = priority()
                            continue
                        }
                        break
                    }
                    continue
                }
                if t.isWord("policy") {
                    i += 1
                    chain.policy = try name("a policy")
                    continue
                }
                if t.isWord("comment") || t.isWord("devices") {
                    skipToEndOfStatement()
                    continue
                }
                // A rule: up to the end of the line at brace depth 0.
                appendRule(chain.family, chain.table, chain.name, statementTokens())
            }
            upsert(chain)
        }

        mutating func priority() -> Int? {
            guard let w = next()?.text else { return nil }
            var base: Int? = Int(w) ?? NftTextParser.priorities[w]
            if let op = peek(), op.isWord("+") || op.isWord("-"), let n = peek(1).flatMap({ Int($0.text) }) {
                i += 2
                base = base.map { op.text == "+" ? $0 + n : $0 - n }
            }
            return base
        }

        mutating func appendRule(_ family: String, _ table: String, _ chain: String, _ ruleTokens: [NftToken]) {
            guard !ruleTokens.isEmpty else { return }
            var handle: Int?
            var body = ruleTokens
            if let last = body.last, case .handle(let h) = last.kind {
                handle = h
                body.removeLast()
            }
            body.removeAll { $0.kind == .comment }
            guard !body.isEmpty else { return }
            let parsed = NftRuleTextParser.parse(body)
            let text = sourceText(body)
            ruleset.rules.append(FirewallRule(family: family, table: table, chain: chain, handle: handle,
                                              expressions: parsed.expressions, text: text, comment: parsed.comment))
        }

        func sourceText(_ toks: [NftToken]) -> String {
            guard let f = toks.first, let l = toks.last, f.start < l.end, l.end <= source.count else { return "" }
            let raw = String(decoding: source[f.start..<l.end], as: UTF8.self)
            return raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
        }

        /// After `set NAME {`: `type`, `flags`, `elements = { … }` and options, up to `}`.
        mutating func setBody(_ family: String, _ table: String, _ name: String, isMap: Bool) throws {
            var set = FirewallSet(family: family, table: table, name: name, type: "", mapType: isMap ? "" : nil)
            while true {
                skipSeparators()
                guard let t = peek() else { throw fail("unclosed set \(name)", nil) }
                if t.kind == .closeBrace { i += 1; break }
                if t.isWord("type") || t.isWord("typeof") {
                    i += 1
                    var parts: [String] = []
                    while let u = peek(), u.kind == .word { parts.append(u.text); i += 1 }
                    let joined = parts.joined(separator: " ")
                    if let r = joined.range(of: " : ") {
                        set.type = String(joined[..<r.lowerBound])
                        set.mapType = String(joined[r.upperBound...])
                    } else {
                        set.type = joined
                    }
                    continue
                }
                if t.isWord("elements") {
                    i += 1
                    if peek()?.isWord("=") == true { i += 1 }
                    guard peek()?.kind == .openBrace else { throw fail("expected '{' after elements", peek()) }
                    var p = NftRuleTextParser.elementsParser(Array(tokens[i...]))
                    set.elements += p.elements()
                    i += p.consumed
                    continue
                }
                skipToEndOfStatement()
            }
            ruleset.sets.append(set)
        }
    }
}

extension NftRuleTextParser {
    /// Reads `{ … }` set elements from the start of `tokens`; `consumed` tells how far it went.
    struct ElementsReader {
        var parser: NftRuleTextParser
        var consumed: Int { parser.position }
        mutating func elements() -> [NftValue] { parser.readSet() }
    }

    static func elementsParser(_ tokens: [NftToken]) -> ElementsReader {
        ElementsReader(parser: NftRuleTextParser(tokens))
    }
}

/// Decides which nf_tables tables iptables-nft made.
public enum OriginHeuristics {
    static let iptablesTables: Set<String> = ["filter", "nat", "mangle", "raw", "security"]
    static let iptablesChains: Set<String> = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]

    /// A table is iptables-nft's when libnftables says so (`managedTables`, "family name"), when it
    /// holds untranslated `xt` expressions, or when it has iptables' table name and only iptables'
    /// built-in base chains. Rules of other tables keep their origin.
    public static func apply(_ rs: inout Ruleset, managedTables: Set<String> = []) {
        var iptTables = managedTables
        for r in rs.rules where r.hasUntranslatedExtensions { iptTables.insert("\(r.family) \(r.table)") }
        for t in rs.tables where (t.family == "ip" || t.family == "ip6") && iptablesTables.contains(t.name) {
            let base = rs.chains.filter { $0.family == t.family && $0.table == t.name && $0.isBase }
            if !base.isEmpty && base.allSatisfy({ iptablesChains.contains($0.name) }) { iptTables.insert("\(t.family) \(t.name)") }
        }
        guard !iptTables.isEmpty else { return }
        for k in rs.rules.indices where rs.rules[k].origin == .nft && iptTables.contains("\(rs.rules[k].family) \(rs.rules[k].table)") {
            rs.rules[k].origin = .iptablesNFT
        }
    }
}
