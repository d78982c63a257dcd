/// Model → nft text, for rules read from JSON (which carries no text of its own).
/// The output follows `nft list ruleset` closely enough for a person to recognise the rule.
public enum RuleFormatter {
    public static func text(_ rule: FirewallRule) -> String {
        if let t = rule.text, !t.isEmpty { return t }
        var parts = rule.expressions.map(expression)
        if let c = rule.comment { parts.append("comment \"\(c)\"") }
        return parts.filter { !$0.isEmpty }.joined(separator: " ")
    }

    public static func expression(_ e: RuleExpression) -> String {
        switch e {
        case .match(let left, let op, let right):
            let l = operand(left)
            var r = value(right)
            if case .meta(let k) = left, k.hasSuffix("name"), case .string(let s) = right { r = "\"\(s)\"" }
            if r.isEmpty { return l }
            return op == "==" ? "\(l) \(r)" : "\(l) \(op) \(r)"
        case .nat(let n):
            return nat(n)
        case .verdict(let v):
            return verdict(v)
        case .vmap(let key, let data):
            return "\(operand(key)) vmap \(value(data))"
        case .xt(let type, let name):
            return "xt \(type) \(name)"
        case .other(let s):
            return s.hasPrefix("?") ? String(s.dropFirst()) : s
        }
    }

    public static func nat(_ n: NatStatement) -> String {
        var s = n.kind.rawValue
        if let f = n.family { s += " " + f }
        let addr = n.address.map(value)
        let port = n.port.map(value)
        switch (addr, port) {
        case (nil, nil):
            return s
        case (nil, let p?):
            return s + " to :" + p
        case (let a?, nil):
            return s + " to " + a
        case (let a?, let p?):
            let shown = a.contains(":") && !a.contains(" ") ? "[\(a)]" : a
            return s + " to " + shown + ":" + p
        }
    }

    public static func verdict(_ v: Verdict) -> String {
        switch v {
        case .accept: return "accept"
        case .drop: return "drop"
        case .continue: return "continue"
        case .return: return "return"
        case .queue: return "queue"
        case .reject(let d): return d.map { "reject with \($0)" } ?? "reject"
        case .jump(let t): return "jump \(t)"
        case .goto(let t): return "goto \(t)"
        }
    }

    public static func operand(_ o: Operand) -> String {
        switch o {
        case .payload(let p, let f): return "\(p) \(f)"
        case .meta(let k):
            return ["iifname", "oifname", "iif", "oif", "mark"].contains(k) ? k : "meta \(k)"
        case .ct(let k): return "ct \(k)"
        case .fib(let r, let f): return "fib \(f.joined(separator: " . ")) \(r)"
        case .other(let s): return s
        }
    }

    public static func value(_ v: NftValue) -> String {
        switch v {
        case .number(let n): return String(n)
        case .string(let s):
            if s.isEmpty || s.contains(" ") { return "\"\(s)\"" }
            return s
        case .set(let items): return "{ " + items.map(value).joined(separator: ", ") + " }"
        case .range(let a, let b): return value(a) + "-" + value(b)
        case .prefix(let a, let n): return "\(a)/\(n)"
        case .concat(let items): return items.map(value).joined(separator: " . ")
        case .mapping(let k, let d): return value(k) + " : " + value(d)
        case .verdict(let v): return verdict(v)
        case .operand(let o): return operand(o)
        case .map(let key, let data): return operand(key) + " map " + value(data)
        case .unknown(let s): return s
        }
    }
}
