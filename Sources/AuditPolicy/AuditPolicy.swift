import Findings
import FirewallAudit
import TOMLKit

/// What `dnsaudit audit` runs, read from the policy file (rules/policy.example.toml): the
/// firewall part (approved resolvers and NAT targets) is FirewallPolicy's; the tables `[audit]`,
/// `[audit.outputs]`, `[references]` and `[probe]` are read here. Unknown keys in these tables are
/// errors (a typo must not silently turn a check off).
public struct AuditPolicy: Sendable {
    public var firewall = FirewallPolicy()
    public var source: String?

    // [audit]
    public var interface = "any"
    public var captureSeconds = 30.0
    public var failOn: Severity = .medium
    /// format name → path, written after every run.
    public var outputs: [(format: String, path: String)] = []
    public var user = "root"

    // [references]
    public var references: [String] = []
    public var caFile: String?
    public var timeoutSeconds = 3.0

    // [probe]
    public var resolvers: [String] = []
    public var targets: [String] = []
    public var goproxy = false
    public var checkName = "example.com"
    public var canaryZone: String? = "com"
    public var dnssec = true
    public var identity = true
    public var expectIdentity: [String: String] = [:]
    /// Names whose HTTPS record is compared with the references' (`https_names`), whoami-style ECS
    /// echo names (`ecs_names`), rebinding test names (`rebinding_names`): all empty by default.
    public var httpsNames: [String] = []
    public var ecsNames: [String] = []
    public var rebindingNames: [String] = []
    /// `opt_out_canary_severity`: the severity `encrypted-dns.opt-out-canary` is raised to (never
    /// lowered), for every canary (a string) or per canary product (a table keyed `firefox-doh`,
    /// `icloud-private-relay`, `other`). Keys: the product, or "*" for the string form.
    public var optOutCanarySeverity: [String: Severity] = [:]

    /// The canary products `[probe] opt_out_canary_severity` may name.
    public static let canaryProducts: Set<String> = ["firefox-doh", "icloud-private-relay", "other"]

    public init() {}

    public static let formats: Set<String> = ["text", "json", "jsonl", "eve", "markdown", "html", "sarif", "prometheus"]
    static let auditKeys: Set<String> = ["interface", "duration", "fail_on", "outputs", "user"]
    static let referenceKeys: Set<String> = ["urls", "ca_file", "timeout"]
    static let probeKeys: Set<String> = ["resolvers", "targets", "goproxy", "check_name", "canary_zone", "dnssec", "identity", "expect_identity",
                                            "https_names", "ecs_names", "rebinding_names", "opt_out_canary_severity"]

    public static func parse(toml text: String, source: String? = nil) throws -> AuditPolicy {
        var p = AuditPolicy()
        p.source = source
        p.firewall = try FirewallPolicy.parse(toml: text, source: source)
        let root = try TOMLTable(string: text)  // FirewallPolicy.parse has reported syntax errors already
        let at = source ?? "policy"

        func table(_ name: String, _ known: Set<String>) throws -> TOMLTable? {
            guard let v = root[name] else { return nil }
            guard let t = v.table else { throw PolicyError("\(at): [\(name)] must be a table") }
            for k in t.keys where !known.contains(k) {
                throw PolicyError("\(at): unknown key '\(k)' in [\(name)] (known: \(known.sorted().joined(separator: ", ")))")
            }
            return t
        }
        func string(_ t: TOMLTable, _ key: String, _ table: String) throws -> String? {
            guard let v = t[key] else { return nil }
            guard let s = v.string else { throw PolicyError("\(at): \(table).\(key) must be a string") }
            return s
        }
        func number(_ t: TOMLTable, _ key: String, _ table: String) throws -> Double? {
            guard let v = t[key] else { return nil }
            if let i = v.int { return Double(i) }
            if let d = v.double { return d }
            throw PolicyError("\(at): \(table).\(key) must be a number")
        }
        func bool(_ t: TOMLTable, _ key: String, _ table: String) throws -> Bool? {
            guard let v = t[key] else { return nil }
            guard let b = v.bool else { throw PolicyError("\(at): \(table).\(key) must be true or false") }
            return b
        }
        func strings(_ t: TOMLTable, _ key: String, _ table: String) throws -> [String]? {
            guard let v = t[key] else { return nil }
            guard let arr = v.array else { throw PolicyError("\(at): \(table).\(key) must be an array of strings") }
            return try arr.map { item in
                guard let s = item.string else { throw PolicyError("\(at): \(table).\(key) must be an array of strings") }
                return s
            }
        }

        if let a = try table("audit", auditKeys) {
            if let i = try string(a, "interface", "audit") { p.interface = i }
            if let u = try string(a, "user", "audit") { p.user = u }
            if let d = try number(a, "duration", "audit") {
                guard d >= 0 && d <= 86_400 else { throw PolicyError("\(at): audit.duration must be between 0 and 86400 seconds") }
                p.captureSeconds = d
            }
            if let f = try string(a, "fail_on", "audit") {
                guard let s = Severity(rawValue: f) else { throw PolicyError("\(at): audit.fail_on must be info, low, medium, high or critical") }
                p.failOn = s
            }
            if let o = a["outputs"] {
                guard let t = o.table else { throw PolicyError("\(at): [audit.outputs] must be a table of format = \"path\"") }
                for k in t.keys.sorted() {
                    guard formats.contains(k) else {
                        throw PolicyError("\(at): [audit.outputs]: unknown format '\(k)' (known: \(formats.sorted().joined(separator: ", ")))")
                    }
                    guard let path = t[k]?.string, !path.isEmpty else { throw PolicyError("\(at): audit.outputs.\(k) must be a file path") }
                    p.outputs.append((k, path))
                }
            }
        }
        if let r = try table("references", referenceKeys) {
            p.references = try strings(r, "urls", "references") ?? []
            p.caFile = try string(r, "ca_file", "references")
            if let t = try number(r, "timeout", "references") {
                guard t > 0 && t <= 120 else { throw PolicyError("\(at): references.timeout must be between 0 and 120 seconds") }
                p.timeoutSeconds = t
            }
        }
        if let pr = try table("probe", probeKeys) {
            p.resolvers = try strings(pr, "resolvers", "probe") ?? []
            p.targets = try strings(pr, "targets", "probe") ?? []
            p.goproxy = try bool(pr, "goproxy", "probe") ?? false
            if let c = try string(pr, "check_name", "probe") { p.checkName = c }
            if let z = try string(pr, "canary_zone", "probe") { p.canaryZone = z.isEmpty ? nil : z }
            p.dnssec = try bool(pr, "dnssec", "probe") ?? true
            p.identity = try bool(pr, "identity", "probe") ?? true
            p.httpsNames = try strings(pr, "https_names", "probe") ?? []
            p.ecsNames = try strings(pr, "ecs_names", "probe") ?? []
            p.rebindingNames = try strings(pr, "rebinding_names", "probe") ?? []
            if let v = pr["opt_out_canary_severity"] {
                func severity(_ text: String?, _ key: String) throws -> Severity {
                    guard let text, let s = Severity(rawValue: text) else {
                        throw PolicyError("\(at): \(key) must be info, low, medium, high or critical")
                    }
                    return s
                }
                if let t = v.table {
                    for k in t.keys.sorted() {
                        guard canaryProducts.contains(k) else {
                            throw PolicyError("\(at): unknown canary '\(k)' in probe.opt_out_canary_severity (known: \(canaryProducts.sorted().joined(separator: ", ")))")
                        }
                        p.optOutCanarySeverity[k] = try severity(t[k]?.string, "probe.opt_out_canary_severity.\(k)")
                    }
                } else {
                    p.optOutCanarySeverity["*"] = try severity(v.string, "probe.opt_out_canary_severity")
                }
            }
            if let e = pr["expect_identity"] {
                guard let t = e.table else { throw PolicyError("\(at): probe.expect_identity must be a table of ADDRESS = \"text\"") }
                for k in t.keys {
                    guard let v = t[k]?.string else { throw PolicyError("\(at): probe.expect_identity.\(k) must be a string") }
                    p.expectIdentity[k] = v
                }
            }
        }
        return p
    }
}
