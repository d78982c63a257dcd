/// One nft rule in text form (`iifname "lan0" udp dport 53 counter dnat to 192.168.10.5:53`) → expressions.
/// Lenient: what it does not understand becomes `.other("?…")` and parsing goes on; it never fails.
struct NftRuleTextParser {
    private let t: [NftToken]
    private var i = 0
    private(set) var expressions: [RuleExpression] = []
    private(set) var comment: String?

    static let payloadProtocols: Set<String> = [
        "ip", "ip6", "tcp", "udp", "udplite", "th", "sctp", "dccp", "icmp", "icmpv6", "igmp", "ether", "vlan", "arp",
        "ah", "esp", "comp", "rt", "frag", "hbh", "mh", "dst", "gre", "vxlan",
    ]
    static let bareMetaKeys: Set<String> = [
        "iifname", "oifname", "iif", "oif", "iiftype", "oiftype", "mark", "l4proto", "nfproto", "skuid", "skgid",
        "priority", "pkttype", "cpu", "iifgroup", "oifgroup", "cgroup", "rtclassid", "ibrname", "obrname",
        "ibriport", "obriport", "secmark", "time", "day", "hour", "iifkind", "oifkind",
    ]
    static let operators: Set<String> = ["==", "!=", "<", ">", "<=", ">=", "eq", "ne", "lt", "gt", "le", "ge"]
    static let statementWords: Set<String> = [
        "counter", "log", "limit", "quota", "accept", "drop", "reject", "continue", "return", "queue", "jump", "goto",
        "dnat", "snat", "masquerade", "redirect", "tproxy", "notrack", "comment", "xt", "flow", "dup", "fwd",
        "synproxy", "add", "update", "delete",
    ]

    init(_ tokens: [NftToken]) {
        t = tokens
    }

    static func parse(_ tokens: [NftToken]) -> (expressions: [RuleExpression], comment: String?) {
        var p = NftRuleTextParser(tokens)
        p.run()
        return (p.expressions, p.comment)
    }

    /// How many tokens have been read.
    var position: Int { i }

    /// Reads a `{ … }` set at the current position.
    mutating func readSet() -> [NftValue] {
        guard peek()?.kind == .openBrace else { return [] }
        i += 1
        return setElements()
    }

    // MARK: helpers

    private var atEnd: Bool { i >= t.count }
    private func peek(_ k: Int = 0) -> NftToken? { i + k < t.count ? t[i + k] : nil }
    private func peekWord(_ k: Int = 0) -> String? {
        guard let x = peek(k), x.kind == .word || x.kind == .quoted else { return nil }
        return x.text
    }
    private mutating func next() -> NftToken? {
        guard i < t.count else { return nil }
        defer { i += 1 }
        return t[i]
    }
    private mutating func accept(_ w: String) -> Bool {
        if peek()?.isWord(w) == true { i += 1; return true }
        return false
    }
    private func isStatementStart(_ k: Int = 0) -> Bool {
        guard let x = peek(k), x.kind == .word else { return false }
        return Self.statementWords.contains(x.text)
    }

    // MARK: rule

    private mutating func run() {
        while !atEnd {
            let before = i
            statement()
            if i == before { i += 1 }  // always make progress
        }
    }

    private mutating func statement() {
        guard let tok = peek() else { return }
        if tok.kind == .comment || tok.kind == .newline || tok.kind == .semicolon || tok.kind == .comma {
            i += 1
            return
        }
        if case .handle = tok.kind { i += 1; return }
        guard tok.kind == .word else {
            expressions.append(.other("?" + tok.text))
            i += 1
            return
        }
        let w = tok.text
        switch w {
        case "counter":
            i += 1
            if accept("name") { _ = next(); return }
            while let x = peekWord(), x == "packets" || x == "bytes" { i += 2 }
            expressions.append(.other("counter"))
        case "log":
            i += 1
            while let x = peekWord(), ["prefix", "level", "flags", "group", "snaplen", "queue-threshold"].contains(x) {
                i += 2
                while peek()?.kind == .comma { i += 2 }
            }
            expressions.append(.other("log"))
        case "limit", "quota":
            i += 1
            skipArguments()
            expressions.append(.other(w))
        case "accept": i += 1; expressions.append(.verdict(.accept))
        case "drop": i += 1; expressions.append(.verdict(.drop))
        case "continue": i += 1; expressions.append(.verdict(.continue))
        case "return": i += 1; expressions.append(.verdict(.return))
        case "queue":
            i += 1
            skipArguments()
            expressions.append(.verdict(.queue))
        case "jump", "goto":
            i += 1
            let target = next()?.text ?? ""
            expressions.append(.verdict(w == "jump" ? .jump(target) : .goto(target)))
        case "reject":
            i += 1
            var detail: [String] = []
            if accept("with") {
                while let x = peekWord(), !isStatementStart(), detail.count < 3 { detail.append(x); i += 1 }
            }
            expressions.append(.verdict(.reject(detail.isEmpty ? nil : detail.joined(separator: " "))))
        case "dnat", "snat", "tproxy":
            i += 1
            expressions.append(.nat(natStatement(NatKind(rawValue: w) ?? .dnat)))
        case "masquerade", "redirect":
            i += 1
            var port: NftValue?
            if accept("to") {
                if let x = peekWord() {
                    i += 1
                    let p = x.hasPrefix(":") ? String(x.dropFirst()) : x
                    port = NftRuleTextParser.atom(p)
                }
            }
            skipNatFlags()
            expressions.append(.nat(NatStatement(kind: w == "redirect" ? .redirect : .masquerade, port: port)))
        case "notrack":
            i += 1
            expressions.append(.other("notrack"))
        case "comment":
            i += 1
            comment = next()?.text
        case "xt":
            i += 1
            let type = next()?.text ?? ""
            let name = next()?.text ?? ""
            expressions.append(.xt(type: type, name: name))
        case "add", "update", "delete":
            // Dynamic set updates: `add @set { ip saddr }`.
            i += 1
            if peekWord()?.hasPrefix("@") == true { i += 1 }
            if peek()?.kind == .openBrace { skipBlock() }
            expressions.append(.other("set " + w))
        case "flow", "dup", "fwd", "synproxy":
            i += 1
            skipArguments()
            expressions.append(.other(w))
        default:
            matchOrSet()
        }
    }

    /// Skips statement arguments up to the next statement keyword or the end.
    private mutating func skipArguments() {
        while let x = peek(), !isStatementStart() {
            if x.kind == .openBrace { skipBlock(); continue }
            if case .handle = x.kind { return }
            i += 1
        }
    }

    private mutating func skipBlock() {
        var depth = 0
        while let x = next() {
            if x.kind == .openBrace { depth += 1 }
            if x.kind == .closeBrace { depth -= 1; if depth <= 0 { return } }
        }
    }

    private mutating func skipNatFlags() {
        while let x = peekWord(), ["persistent", "random", "fully-random", "netmap"].contains(x) {
            i += 1
            while peek()?.kind == .comma { i += 2 }
        }
    }

    /// `dnat [ip|ip6] to ADDR[:PORT]`, `dnat to ip daddr map { … }`, `tproxy to :PORT`.
    private mutating func natStatement(_ kind: NatKind) -> NatStatement {
        var st = NatStatement(kind: kind)
        if let f = peekWord(), f == "ip" || f == "ip6", peek(1)?.isWord("to") == true || peek(1)?.isWord("prefix") == true {
            st.family = f
            i += 1
        }
        _ = accept("to")
        _ = accept("prefix")
        if let x = peekWord(), operandStartsHere() {
            _ = x
            if let op = operand() {
                if accept("map") {
                    st.address = .map(key: op, data: value())
                } else {
                    st.address = .operand(op)
                }
            }
        } else if let x = peekWord() {
            i += 1
            let (addr, port) = NftRuleTextParser.splitAddressPort(x)
            st.address = addr
            st.port = port
        }
        skipNatFlags()
        return st
    }

    private func operandStartsHere() -> Bool {
        guard let w = peekWord(), peek()?.kind == .word else { return false }
        if Self.payloadProtocols.contains(w), let f = peekWord(1), !f.contains(":"), !f.contains("."), f.first?.isLetter == true {
            return true
        }
        return w == "meta" || w == "ct" || w == "fib" || w == "numgen" || w == "jhash" || w == "symhash"
            || Self.bareMetaKeys.contains(w)
    }

    /// A selector followed by an optional operator and a value, or `vmap`, or `set` (a mangle statement).
    private mutating func matchOrSet() {
        guard operandStartsHere(), var left = operand() else {
            expressions.append(.other("?" + (next()?.text ?? "")))
            return
        }
        // Concatenations: `ip daddr . tcp dport`.
        var concat = [left]
        while peek()?.isWord(".") == true {
            i += 1
            guard operandStartsHere(), let more = operand() else { break }
            concat.append(more)
        }
        if concat.count > 1 { left = .other(concat.map(NftRuleTextParser.describe).joined(separator: " . ")) }
        if accept("vmap") {
            expressions.append(.vmap(key: left, data: value()))
            return
        }
        if accept("set") {
            _ = value()
            expressions.append(.other("set"))
            return
        }
        // Bit operations (`tcp flags & (syn|ack) == syn`) are not modelled: keep the comparison.
        var op = "=="
        while let x = peekWord(), x == "&" || x == "|" || x == "^" || x == "<<" || x == ">>" {
            i += 1
            _ = next()
            left = .other(NftRuleTextParser.describe(left) + " " + x)
        }
        if let x = peekWord(), Self.operators.contains(x) {
            i += 1
            op = ["eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="][x] ?? x
        }
        // A selector with nothing after it (or only a statement) is a bare test: `ip6 nexthdr` exists.
        var hasValue = false
        if let x = peek() {
            switch x.kind {
            case .word: hasValue = !(isStatementStart() && op == "==")
            case .quoted, .openBrace: hasValue = true
            default: hasValue = false
            }
        }
        guard hasValue else {
            expressions.append(.match(left: left, op: op, right: .unknown("")))
            return
        }
        expressions.append(.match(left: left, op: op, right: value()))
    }

    private mutating func operand() -> Operand? {
        guard let w = peekWord() else { return nil }
        if Self.payloadProtocols.contains(w), let f = peekWord(1) {
            i += 2
            return .payload(protocol: w, field: f)
        }
        switch w {
        case "meta":
            i += 1
            guard let k = next()?.text else { return nil }
            return .meta(k)
        case "ct":
            i += 1
            guard var k = next()?.text else { return nil }
            if k == "original" || k == "reply", let f = peekWord() {
                i += 1
                k += " " + f
            }
            return .ct(k)
        case "fib":
            i += 1
            var flags: [String] = []
            while let f = peekWord(), ["saddr", "daddr", "mark", "iif", "oif"].contains(f) {
                flags.append(f)
                i += 1
                if peek()?.isWord(".") == true { i += 1 }
            }
            let result = next()?.text ?? ""
            return .fib(result: result, flags: flags)
        case "numgen", "jhash", "symhash":
            i += 1
            var parts = [w]
            while let x = peekWord(), x != "mod", parts.count < 8 { parts.append(x); i += 1 }
            if accept("mod"), let m = next() { parts += ["mod", m.text] }
            return .other(parts.joined(separator: " "))
        default:
            if Self.bareMetaKeys.contains(w) {
                i += 1
                return .meta(w)
            }
            return nil
        }
    }

    /// A value: `{ set }`, `@name`, a range, a prefix, a number, a symbol, a quoted string, a verdict.
    private mutating func value() -> NftValue {
        guard let x = peek() else { return .unknown("") }
        switch x.kind {
        case .openBrace:
            i += 1
            return .set(setElements())
        case .quoted:
            i += 1
            return .string(x.text)
        case .word:
            if x.text == "jump" || x.text == "goto" {
                i += 1
                let target = next()?.text ?? ""
                return .verdict(x.text == "jump" ? .jump(target) : .goto(target))
            }
            if let v = ["accept": Verdict.accept, "drop": .drop, "return": .return, "continue": .continue][x.text] {
                i += 1
                return .verdict(v)
            }
            i += 1
            var v = NftRuleTextParser.atom(x.text)
            // Concatenated values: `10.0.0.1 . 53`.
            if peek()?.isWord(".") == true, let nxt = peek(1), nxt.kind == .word {
                var parts = [v]
                while peek()?.isWord(".") == true, let n = peek(1), n.kind == .word {
                    i += 2
                    parts.append(NftRuleTextParser.atom(n.text))
                }
                v = .concat(parts)
            }
            return v
        default:
            return .unknown(x.text)
        }
    }

    /// Elements after `{` up to the matching `}`; `key : value` pairs become mappings.
    private mutating func setElements() -> [NftValue] {
        var out: [NftValue] = []
        while let x = peek() {
            if x.kind == .closeBrace { i += 1; break }
            if x.kind == .comma || x.kind == .newline || x.kind == .semicolon || x.kind == .comment { i += 1; continue }
            if case .handle = x.kind { i += 1; continue }
            let before = i
            var v = value()
            if accept(":") {
                v = .mapping(v, value())
            }
            // Element options: `timeout 1h`, `expires 30m`, `comment "…"`, `counter packets N bytes M`.
            while let o = peekWord(), ["timeout", "expires", "comment", "counter", "packets", "bytes"].contains(o) {
                i += o == "counter" ? 1 : 2
            }
            out.append(v)
            if i == before { i += 1 }
        }
        return out
    }

    // MARK: atoms

    /// A single word as a value: number, range `a-b`, prefix `a/len`, or a symbol/address.
    static func atom(_ w: String) -> NftValue {
        if let n = Int(w) { return .number(n) }
        if w.hasPrefix("0x"), let n = Int(w.dropFirst(2), radix: 16) { return .number(n) }
        if let slash = w.lastIndex(of: "/"), let len = Int(w[w.index(after: slash)...]), !w.hasPrefix("@") {
            return .prefix(String(w[..<slash]), len)
        }
        if let dash = w.firstIndex(of: "-"), dash != w.startIndex {
            let a = String(w[..<dash]), b = String(w[w.index(after: dash)...])
            if looksLikeRangeEnd(a) && looksLikeRangeEnd(b) { return .range(atom(a), atom(b)) }
        }
        if let port = servicePorts[w] { return .number(port) }
        return .string(w)
    }

    private static func looksLikeRangeEnd(_ s: String) -> Bool {
        guard !s.isEmpty else { return false }
        if Int(s) != nil { return true }
        return s.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" } && (s.contains(".") || s.contains(":"))
    }

    /// The service names nft accepts for the ports this tool cares about (from /etc/services).
    static let servicePorts: [String: Int] = [
        "domain": 53, "domain-s": 853, "https": 443, "http": 80, "ssh": 22, "ntp": 123, "bootps": 67, "bootpc": 68,
        "http-alt": 8080, "mdns": 5353, "llmnr": 5355,
    ]

    /// `10.0.0.5:53`, `[fd00::53]:53`, `fd00::53`, `10.0.0.1-10.0.0.3:53-54`, `:53` → (address, port).
    static func splitAddressPort(_ w: String) -> (NftValue?, NftValue?) {
        if w.hasPrefix(":") { return (nil, atom(String(w.dropFirst()))) }
        if w.hasPrefix("["), let close = w.firstIndex(of: "]") {
            let addr = String(w[w.index(after: w.startIndex)..<close])
            let rest = w[w.index(after: close)...]
            let port = rest.hasPrefix(":") ? atom(String(rest.dropFirst())) : nil
            return (atom(addr), port)
        }
        let colons = w.filter { $0 == ":" }.count
        if colons == 1, let c = w.firstIndex(of: ":") {
            let port = String(w[w.index(after: c)...])
            return (atom(String(w[..<c])), port.isEmpty ? nil : atom(port))
        }
        return (atom(w), nil)
    }

    static func describe(_ o: Operand) -> String {
        switch o {
        case .payload(let p, let f): return "\(p) \(f)"
        case .meta(let k): return "meta \(k)"
        case .ct(let k): return "ct \(k)"
        case .fib(let r, let f): return "fib \(f.joined(separator: " . ")) \(r)"
        case .other(let s): return s
        }
    }
}
