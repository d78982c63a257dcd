import Foundation

/// A parsed JSON value, with numbers and booleans kept apart.
enum JSONValue: Decodable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int.self) { self = .int(i); return }
        if let d = try? c.decode(Double.self) { self = .double(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    var object: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }
    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var int: Int? {
        switch self {
        case .int(let i): return i
        case .string(let s): return Int(s)
        default: return nil
        }
    }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }

    /// The single key of `{"key": value}` objects, nft's way of tagging expressions.
    var tagged: (String, JSONValue)? {
        guard case .object(let o) = self, o.count == 1, let (k, v) = o.first else { return nil }
        return (k, v)
    }

    /// Compact text for values the model does not interpret.
    var compactText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return "\"" + s + "\""
        case .array(let a): return "[" + a.map(\.compactText).joined(separator: ",") + "]"
        case .object(let o):
            return "{" + o.keys.sorted().map { "\"\($0)\":" + (o[$0]?.compactText ?? "null") }.joined(separator: ",") + "}"
        }
    }
}

/// `nft -j list ruleset` (libnftables JSON, `json_schema_version` 1) → `Ruleset`.
public enum NftJSONParser {
    /// Deepest nesting of values the parser follows; deeper values become `.unknown`.
    static let maxDepth = 48

    public static func parse(_ data: Data) throws -> Ruleset {
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw FirewallParseError("not valid JSON (\(shortDecodingError(error)))")
        }
        guard let top = root.object, let items = top["nftables"]?.array else {
            throw FirewallParseError("JSON without a top-level \"nftables\" array: not an 'nft -j list ruleset' listing")
        }
        var rs = Ruleset()
        for item in items {
            guard var (kind, body) = item.tagged else { continue }
            // Accept command-style files too: {"add": {"rule": …}}.
            if ["add", "create", "insert"].contains(kind), let inner = body.tagged { (kind, body) = inner }
            guard let o = body.object else { continue }
            switch kind {
            case "table":
                guard let family = o["family"]?.string, let name = o["name"]?.string else {
                    throw FirewallParseError("a table without family or name")
                }
                rs.tables.append(FirewallTable(family: family, name: name, handle: o["handle"]?.int))
            case "chain":
                guard let family = o["family"]?.string, let table = o["table"]?.string, let name = o["name"]?.string else {
                    throw FirewallParseError("a chain without family, table or name")
                }
                rs.chains.append(FirewallChain(family: family, table: table, name: name, handle: o["handle"]?.int,
                                               type: o["type"]?.string, hook: o["hook"]?.string,
                                               priority: o["prio"]?.int, policy: o["policy"]?.string))
            case "rule":
                guard let family = o["family"]?.string, let table = o["table"]?.string, let chain = o["chain"]?.string else {
                    throw FirewallParseError("a rule without family, table or chain")
                }
                let exprs = (o["expr"]?.array ?? []).map { expression($0) }
                rs.rules.append(FirewallRule(family: family, table: table, chain: chain, handle: o["handle"]?.int,
                                             expressions: exprs, comment: o["comment"]?.string))
            case "set", "map":
                guard let family = o["family"]?.string, let table = o["table"]?.string, let name = o["name"]?.string else {
                    throw FirewallParseError("a \(kind) without family, table or name")
                }
                let type: String
                if let t = o["type"]?.string { type = t } else if let a = o["type"]?.array { type = a.compactMap(\.string).joined(separator: " . ") } else { type = "" }
                let elems = (o["elem"]?.array ?? []).map { element($0, depth: 1) }
                rs.sets.append(FirewallSet(family: family, table: table, name: name, type: type,
                                           mapType: o["map"]?.string ?? (kind == "map" ? "" : nil), elements: elems))
            default:
                continue  // metainfo, flowtables, counters, quotas, ct helpers, …
            }
        }
        OriginHeuristics.apply(&rs)
        return rs
    }

    static func shortDecodingError(_ e: Error) -> String {
        if case DecodingError.dataCorrupted(let ctx) = e {
            if let u = ctx.underlyingError as NSError?, let d = u.userInfo[NSDebugDescriptionErrorKey] as? String {
                return String(d.prefix(120))
            }
            return String(ctx.debugDescription.prefix(120))
        }
        return "unreadable"
    }

    // MARK: expressions

    static func expression(_ j: JSONValue) -> RuleExpression {
        guard let (kind, body) = j.tagged else { return .other(j.compactText) }
        switch kind {
        case "match":
            guard let o = body.object, let l = o["left"], let r = o["right"] else { return .other("match") }
            return .match(left: operand(l), op: o["op"]?.string ?? "==", right: value(r, depth: 1))
        case "dnat", "snat", "masquerade", "redirect", "tproxy":
            guard let k = NatKind(rawValue: kind) else { return .other(kind) }
            let o = body.object ?? [:]
            return .nat(NatStatement(kind: k, family: o["family"]?.string,
                                     address: o["addr"].map { value($0, depth: 1) },
                                     port: o["port"].map { value($0, depth: 1) }))
        case "vmap":
            guard let o = body.object, let key = o["key"], let data = o["data"] else { return .other("vmap") }
            return .vmap(key: operand(key), data: value(data, depth: 1))
        case "xt":
            let o = body.object ?? [:]
            return .xt(type: o["type"]?.string ?? "", name: o["name"]?.string ?? "")
        default:
            if let v = verdict(kind, body) { return .verdict(v) }
            return .other(kind)
        }
    }

    static func verdict(_ kind: String, _ body: JSONValue) -> Verdict? {
        switch kind {
        case "accept": return .accept
        case "drop": return .drop
        case "continue": return .continue
        case "return": return .return
        case "queue": return .queue
        case "reject":
            guard let o = body.object else { return .reject(nil) }
            let parts = [o["type"]?.string, o["expr"]?.string].compactMap { $0 }
            return .reject(parts.isEmpty ? nil : parts.joined(separator: " "))
        case "jump", "goto":
            guard let target = body.object?["target"]?.string else { return nil }
            return kind == "jump" ? .jump(target) : .goto(target)
        default:
            return nil
        }
    }

    static func operand(_ j: JSONValue) -> Operand {
        guard let (kind, body) = j.tagged, let o = body.object else { return .other(j.compactText) }
        switch kind {
        case "payload":
            if let p = o["protocol"]?.string, let f = o["field"]?.string { return .payload(protocol: p, field: f) }
        case "meta":
            if let k = o["key"]?.string { return .meta(k) }
        case "ct":
            if let k = o["key"]?.string {
                let dir = o["dir"]?.string
                return .ct(dir.map { "\($0) \(k)" } ?? k)
            }
        case "fib":
            let flags: [String]
            if let a = o["flags"]?.array { flags = a.compactMap(\.string) } else if let s = o["flags"]?.string { flags = [s] } else { flags = [] }
            return .fib(result: o["result"]?.string ?? "", flags: flags)
        default:
            break
        }
        return .other(j.compactText)
    }

    static func value(_ j: JSONValue, depth: Int) -> NftValue {
        guard depth <= maxDepth else { return .unknown("…") }
        switch j {
        case .int(let i): return .number(i)
        case .string(let s): return .string(s)
        case .bool(let b): return .string(b ? "exists" : "missing")
        case .array(let a):
            // A bare [key, data] pair is a map element.
            if a.count == 2 { return .mapping(value(a[0], depth: depth + 1), value(a[1], depth: depth + 1)) }
            return .concat(a.map { value($0, depth: depth + 1) })
        case .null, .double:
            return .unknown(j.compactText)
        case .object:
            break
        }
        guard let (kind, body) = j.tagged else { return .unknown(j.compactText) }
        switch kind {
        case "set":
            if let a = body.array { return .set(a.map { element($0, depth: depth + 1) }) }
            return .set([element(body, depth: depth + 1)])
        case "range":
            if let a = body.array, a.count == 2 { return .range(value(a[0], depth: depth + 1), value(a[1], depth: depth + 1)) }
        case "prefix":
            if let o = body.object, let addr = o["addr"]?.string, let len = o["len"]?.int { return .prefix(addr, len) }
        case "concat":
            if let a = body.array { return .concat(a.map { value($0, depth: depth + 1) }) }
        case "map":
            if let o = body.object, let key = o["key"], let data = o["data"] {
                return .map(key: operand(key), data: value(data, depth: depth + 1))
            }
        case "elem":
            return element(j, depth: depth + 1)
        case "payload", "meta", "ct", "fib":
            return .operand(operand(j))
        default:
            if let v = verdict(kind, body) { return .verdict(v) }
        }
        return .unknown(j.compactText)
    }

    /// A set element: a value, a `[key, data]` pair, or `{"elem": {"val": …, "timeout": …}}`.
    static func element(_ j: JSONValue, depth: Int) -> NftValue {
        if let (k, body) = j.tagged, k == "elem", let v = body.object?["val"] { return value(v, depth: depth + 1) }
        return value(j, depth: depth)
    }
}
