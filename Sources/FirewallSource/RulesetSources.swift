import FirewallModel
import Foundation

/// One ruleset and where it came from.
public struct SourcedRuleset: Sendable {
    public var ruleset: Ruleset
    /// `nftables (live)`, `iptables-legacy ip (live)`, or the file path.
    public var name: String
    /// `nft-json`, `nft-text`, `iptables-save`.
    public var format: String
    /// How it was read, for the report (`libnftables`, `nft in a private namespace`, `text parser`, …).
    public var reader: String

    public init(ruleset: Ruleset, name: String, format: String, reader: String) {
        self.ruleset = ruleset
        self.name = name
        self.format = format
        self.reader = reader
    }
}

public struct RulesetReadResult: Sendable {
    public var rulesets: [SourcedRuleset] = []
    /// Plain-language notes: what could not be done and what was done instead.
    public var notes: [String] = []
}

// MARK: live

/// Reads the kernel's ruleset: nftables through libnftables (never by running `nft`), and the
/// iptables-legacy tables libnftables cannot see.
public enum LiveRulesetReader {
    public static func read() throws -> RulesetReadResult {
        var result = RulesetReadResult()
        // libnftables prints its own permission error straight to stderr: check first.
        guard hasNetAdmin() else {
            throw RulesetSourceError("reading the live ruleset needs root (CAP_NET_ADMIN): run 'sudo dnsaudit rules', or audit a saved ruleset with 'dnsaudit rules --file FILE'")
        }
        guard let ctx = NftablesContext() else { throw RulesetSourceError("libnftables could not create a context") }
        let listing = ctx.run("list ruleset", json: true)
        guard listing.ok else {
            let err = firstLine(listing.error)
            if err.contains("Operation not permitted") || err.contains("Permission denied") {
                throw RulesetSourceError("reading the live ruleset needs root (CAP_NET_ADMIN): run 'sudo dnsaudit rules', or audit a saved ruleset with 'dnsaudit rules --file FILE'")
            }
            throw RulesetSourceError("libnftables could not list the ruleset: \(err.isEmpty ? "unknown error" : err)")
        }
        var rs: Ruleset
        if listing.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            rs = Ruleset()
        } else {
            do {
                rs = try NftJSONParser.parse(Data(listing.output.utf8))
            } catch let e as FirewallParseError {
                throw RulesetSourceError("libnftables returned JSON dnsaudit cannot read: \(e.message)")
            }
        }
        // The text listing: rule text for the report, and the translation of iptables-nft
        // extensions that JSON leaves without parameters.
        let text = ctx.run("list ruleset", json: false, handles: true)
        if text.ok {
            result.notes += XtRecovery.apply(text: text.output + "\n" + text.error, to: &rs)
        }
        result.rulesets.append(SourcedRuleset(ruleset: rs, name: "nftables (live)", format: "nft-json", reader: "libnftables"))
        let legacy = readLegacy()
        result.rulesets += legacy.rulesets
        result.notes += legacy.notes
        return result
    }

    /// `/proc/net/ip_tables_names` and `ip6_tables_names` list the x_tables tables in use in this
    /// network namespace; their rules come from `iptables-legacy-save` / `ip6tables-legacy-save`.
    static func readLegacy() -> RulesetReadResult {
        var result = RulesetReadResult()
        for (family, proc, tool) in [("ip", "/proc/net/ip_tables_names", "iptables-legacy-save"),
                                     ("ip6", "/proc/net/ip6_tables_names", "ip6tables-legacy-save")] {
            guard let names = try? String(contentsOfFile: proc, encoding: .utf8) else { continue }
            let tables = names.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !tables.isEmpty else { continue }
            guard let exe = ExternalCommand.find(tool) else {
                result.notes.append("iptables-legacy \(family) tables exist (\(tables.joined(separator: ", "))) but \(tool) is not installed: install the iptables package to audit them")
                continue
            }
            do {
                let out = try ExternalCommand.run([exe], timeout: 30)
                guard out.status == 0, !out.timedOut else {
                    result.notes.append("\(tool) failed (\(out.timedOut ? "timed out" : out.firstErrorLine)): the iptables-legacy \(family) tables were not audited")
                    continue
                }
                let rs = try IptablesSaveParser.parse(String(decoding: out.stdout, as: UTF8.self), family: family, origin: .iptablesLegacy)
                result.rulesets.append(SourcedRuleset(ruleset: rs, name: "iptables-legacy \(family) (live)", format: "iptables-save", reader: tool))
            } catch {
                result.notes.append("\(tool) output could not be read (\(error)): the iptables-legacy \(family) tables were not audited")
            }
        }
        return result
    }

    /// CAP_NET_ADMIN (bit 12) in the effective set, from /proc/self/status.
    static func hasNetAdmin() -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return true }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            guard let v = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else { return true }
            return v & (1 << 12) != 0
        }
        return true
    }

    static func firstLine(_ s: String) -> String {
        s.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty } ?? ""
    }
}

/// Recovers the parameters of iptables-nft rules that JSON shows only as `{"xt": …}`.
enum XtRecovery {
    /// Adds rule text from the text listing to every rule, replaces untranslated expressions with
    /// the listing's translation, and falls back to `iptables-nft-save` where the listing has none.
    static func apply(text: String, to rs: inout Ruleset) -> [String] {
        var notes: [String] = []
        let managed = NftTextParser.managedTables(in: text)
        guard let listed = try? NftTextParser.parse(text) else {
            OriginHeuristics.apply(&rs, managedTables: managed)
            if rs.rules.contains(where: \.hasUntranslatedExtensions) {
                notes.append("the text listing of the ruleset could not be read: iptables-nft rules are shown without their parameters")
            }
            return notes
        }
        var byKey: [String: FirewallRule] = [:]
        for r in listed.rules {
            guard let h = r.handle else { continue }
            byKey["\(r.family) \(r.table) \(r.chain) \(h)"] = r
        }
        var unresolved: [Int] = []
        for k in rs.rules.indices {
            let r = rs.rules[k]
            guard let h = r.handle, let t = byKey["\(r.family) \(r.table) \(r.chain) \(h)"] else {
                if r.hasUntranslatedExtensions { unresolved.append(k) }
                continue
            }
            rs.rules[k].text = t.text
            guard r.hasUntranslatedExtensions else { continue }
            if translates(json: r, text: t) {
                rs.rules[k].expressions = t.expressions
                rs.rules[k].origin = .iptablesNFT
            } else {
                unresolved.append(k)
            }
        }
        OriginHeuristics.apply(&rs, managedTables: managed)
        for k in unresolved { rs.rules[k].origin = .iptablesNFT }
        if !unresolved.isEmpty { notes += fromSave(&rs, unresolved) }
        return notes
    }

    /// The text is a full translation when it has no `xt` left and keeps every statement kind.
    static func translates(json: FirewallRule, text: FirewallRule) -> Bool {
        guard !text.hasUntranslatedExtensions else { return false }
        let jsonTargets = json.expressions.filter { if case .xt(type: "target", _) = $0 { return true } else { return false } }.count
        let textStatements = text.expressions.filter {
            switch $0 {
            case .nat, .verdict: return true
            default: return false
            }
        }.count
        let jsonStatements = json.expressions.filter {
            switch $0 {
            case .nat, .verdict: return true
            default: return false
            }
        }.count
        return textStatements >= jsonStatements + jsonTargets
    }

    /// Rules whose text listing is untranslated too (TPROXY, ip6 DNAT): `iptables-nft-save` prints
    /// them in full; rule N of a chain there is rule N of the chain here.
    static func fromSave(_ rs: inout Ruleset, _ indices: [Int]) -> [String] {
        var notes: [String] = []
        var tables: [String: [Int]] = [:]
        for k in indices { tables["\(rs.rules[k].family) \(rs.rules[k].table)", default: []].append(k) }
        var recovered = 0
        for (key, ks) in tables.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: " ").map(String.init)
            guard parts.count == 2, parts[0] == "ip" || parts[0] == "ip6" else { continue }
            let tool = parts[0] == "ip6" ? "ip6tables-nft-save" : "iptables-nft-save"
            guard let exe = ExternalCommand.find(tool),
                  let out = try? ExternalCommand.run([exe, "-t", parts[1]], timeout: 30), out.status == 0,
                  let saved = try? IptablesSaveParser.parse(String(decoding: out.stdout, as: UTF8.self), family: parts[0], origin: .iptablesNFT)
            else { continue }
            for k in ks {
                let r = rs.rules[k]
                let chainRules = rs.rules.indices.filter { rs.rules[$0].family == r.family && rs.rules[$0].table == r.table && rs.rules[$0].chain == r.chain }
                let savedRules = saved.rules.filter { $0.chain == r.chain }
                guard chainRules.count == savedRules.count, let pos = chainRules.firstIndex(of: k) else { continue }
                rs.rules[k].expressions = savedRules[pos].expressions
                rs.rules[k].text = (rs.rules[k].text ?? "") + " (iptables: " + (savedRules[pos].text ?? "") + ")"
                recovered += 1
            }
        }
        if recovered > 0 {
            notes.append("\(recovered) iptables-nft rule(s) untranslatable by libnftables were read from iptables-nft-save")
        }
        return notes
    }
}
