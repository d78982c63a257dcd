import FirewallModel
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads a saved ruleset: `nft -j list ruleset` JSON (parsed directly), iptables-save output
/// (parsed directly), or `nft list ruleset` text — loaded by nft itself into a private user +
/// network namespace and listed back as JSON, so that nft's own parser decides what it means.
public enum SavedRulesetReader {
    /// Files larger than this are refused (a ruleset of a million rules is about 100 MiB of JSON).
    public static let maxBytes = 256 << 20

    /// How to run the namespace helper: the argv before the file path, e.g.
    /// `["/usr/bin/unshare", "--user", "--map-root-user", "--net", "--", "/usr/bin/dnsaudit", "rules", "--internal-load-in-namespace"]`.
    public struct NamespaceLister: Sendable {
        public var argv: [String]
        public init(argv: [String]) { self.argv = argv }

        /// `unshare -rn SELF ARGS… FILE`; nil when `unshare` is not installed.
        public static func reexecuting(_ executable: String, arguments: [String]) -> NamespaceLister? {
            guard let unshare = ExternalCommand.find("unshare") else { return nil }
            return NamespaceLister(argv: [unshare, "--user", "--map-root-user", "--net", "--", executable] + arguments)
        }
    }

    public static func read(path: String, lister: NamespaceLister?) throws -> RulesetReadResult {
        let data = try readFile(path)
        if data.contains(0) {
            throw RulesetSourceError("\(path) is binary, not a ruleset: give 'nft list ruleset' text, 'nft -j list ruleset' JSON or iptables-save output")
        }
        var result = RulesetReadResult()
        guard let firstByte = data.first(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d) }) else {
            // `nft list ruleset` on a machine without rules prints nothing: a valid ruleset with no rules.
            result.rulesets.append(SourcedRuleset(ruleset: Ruleset(), name: path, format: "nft-text", reader: "empty file"))
            result.notes.append(emptyNote(path))
            return result
        }
        if firstByte == UInt8(ascii: "{") || firstByte == UInt8(ascii: "[") {
            let rs = try parsed(path) { try NftJSONParser.parse(data) }
            result.rulesets.append(SourcedRuleset(ruleset: rs, name: path, format: "nft-json", reader: "JSON parser"))
            if rs.rules.isEmpty { result.notes.append(emptyNote(path)) }
            if rs.rules.contains(where: { $0.handle == nil }) { result.notes.append(noHandlesNote(path, json: true)) }
            let xt = rs.rules.filter(\.hasUntranslatedExtensions).count
            if xt > 0 {
                result.notes.append("\(path): \(xt) iptables-nft rule(s) appear as bare 'xt' extensions in JSON, which drops their parameters; save the ruleset as text ('nft list ruleset') to see where they send traffic")
            }
            return result
        }
        let text = String(decoding: data, as: UTF8.self)
        if IptablesSaveParser.looksLikeIptablesSave(text) {
            let rs = try parsed(path) { try IptablesSaveParser.parse(text) }
            result.rulesets.append(SourcedRuleset(ruleset: rs, name: path, format: "iptables-save", reader: "iptables-save parser"))
            if rs.rules.isEmpty { result.notes.append(emptyNote(path)) }
            return result
        }
        return try readNftText(path: path, text: text, lister: lister)
    }

    /// Runs a parser, turning its error into a one-line message naming the file.
    static func parsed(_ path: String, _ parse: () throws -> Ruleset) throws -> Ruleset {
        do {
            return try parse()
        } catch let e as FirewallParseError {
            throw RulesetSourceError("\(path): \(e.message)")
        }
    }

    /// An empty ruleset is a valid ruleset with no rules (what `nft list ruleset` prints on a
    /// machine without a firewall); the report says so instead of refusing it.
    static func emptyNote(_ path: String) -> String {
        "\(path) holds no rules (an empty ruleset, as 'nft list ruleset' prints on a machine without a firewall): no rule in it to audit"
    }

    /// Rules without handles cannot be named by `nft delete rule … handle N`.
    static func noHandlesNote(_ path: String, json: Bool) -> String {
        json
            ? "\(path): some rules carry no handle, so findings name them by their position in the chain and give no handle-based removal command; save the ruleset with 'nft -j list ruleset' (which includes handles)"
            : "\(path) has no rule handles (it was saved with 'nft list ruleset'), so findings name rules by their position in the chain and give no handle-based removal command; save it with 'nft -a list ruleset' to get the handles"
    }

    static func readFile(_ path: String) throws -> Data {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw RulesetSourceError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw RulesetSourceError("\(path) is a directory, not a ruleset file") }
        if st.st_size > maxBytes { throw RulesetSourceError("\(path) is larger than \(maxBytes >> 20) MiB: not a ruleset this tool reads") }
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw RulesetSourceError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { try? h.close() }
        let d = (try? h.read(upToCount: maxBytes + 1)) ?? Data()
        if d.count > maxBytes { throw RulesetSourceError("\(path) is larger than \(maxBytes >> 20) MiB: not a ruleset this tool reads") }
        return d
    }

    static func readNftText(path: String, text: String, lister: NamespaceLister?) throws -> RulesetReadResult {
        var result = RulesetReadResult()
        let fallbackReason: String
        if let lister {
            let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
            let out = try ExternalCommand.run(lister.argv + [absolute], timeout: 60)
            if out.status == 0 && !out.timedOut {
                let rs: Ruleset
                do {
                    rs = try NftJSONParser.parse(out.stdout)
                } catch let e as FirewallParseError {
                    throw RulesetSourceError("\(path): nft listed the loaded file as JSON dnsaudit cannot read (\(e.message))")
                }
                var withText = rs
                // Keep the file's own wording of each rule for the report, and the file's handles:
                // the namespace numbered the rules afresh, so its handles are not the user's.
                let fileRules = try? NftTextParser.parse(text)
                let mapped = fileRules.map { attachText(from: $0, to: &withText) } ?? false
                if !mapped {
                    for k in withText.rules.indices { withText.rules[k].handle = nil }
                }
                result.rulesets.append(SourcedRuleset(ruleset: withText, name: path, format: "nft-text", reader: "nft, in a private namespace"))
                if withText.rules.isEmpty { result.notes.append(emptyNote(path)) }
                if !withText.rules.isEmpty {
                    if !mapped {
                        result.notes.append("\(path): dnsaudit could not match the rules nft loaded with the rules of the file, so findings name rules by their position in the chain and give no handle-based removal command")
                    } else if withText.rules.contains(where: { $0.handle == nil }) {
                        result.notes.append(noHandlesNote(path, json: false))
                    }
                }
                return result
            }
            let err = out.timedOut ? "timed out" : out.firstErrorLine
            if out.status == NamespaceChild.exitNFTRejected {
                // nft itself rejected the file: a syntax error is final; anything else (an interface or
                // kernel feature missing in the empty namespace) leaves the text parser to try.
                let nftError = nftMessage(out.stderr)
                if nftError.contains("syntax error") || nftError.contains("unexpected") || (try? NftTextParser.parse(text)) == nil {
                    throw RulesetSourceError("\(path) is not a valid nft ruleset: \(nftError)")
                }
                fallbackReason = "nft could not load it in a private namespace (\(nftError))"
            } else {
                fallbackReason = "user namespaces are unavailable here (\(err.isEmpty ? "unshare failed" : err)), so nft could not check it"
            }
        } else {
            fallbackReason = "the 'unshare' tool is not installed, so nft could not check it"
        }
        let rs: Ruleset
        do {
            rs = try NftTextParser.parse(text)
        } catch let e as FirewallParseError {
            throw RulesetSourceError("\(path): \(e.message) (\(fallbackReason))")
        }
        result.rulesets.append(SourcedRuleset(ruleset: rs, name: path, format: "nft-text", reader: "dnsaudit text parser"))
        result.notes.append("\(path): \(fallbackReason); dnsaudit parsed the text itself, which covers the common rule forms but not every nft expression")
        if rs.rules.isEmpty { result.notes.append(emptyNote(path)) }
        if rs.rules.contains(where: { $0.handle == nil }) { result.notes.append(noHandlesNote(path, json: false)) }
        return result
    }

    /// nft's first error line without the `file:line:col-col: ` prefix position noise kept short.
    static func nftMessage(_ stderr: String) -> String {
        let lines = stderr.split(separator: "\n").map(String.init)
        guard let errLine = lines.first(where: { $0.contains("Error:") }) ?? lines.first else { return "rejected" }
        return String(errLine.trimmingCharacters(in: .whitespaces).prefix(200))
    }

    /// Gives each rule nft listed the text and the handle (`# handle N`, nil when the file has
    /// none) of the same rule in the file. nft loads a file in order, so rule N of a chain in the
    /// file is rule N of that chain in the listing. False (nothing changed) when the chains do not
    /// pair up rule for rule.
    @discardableResult
    static func attachText(from parsed: Ruleset, to rs: inout Ruleset) -> Bool {
        var fileRules: [String: [FirewallRule]] = [:]
        for r in parsed.rules { fileRules["\(r.family) \(r.table) \(r.chain)", default: []].append(r) }
        var counts: [String: Int] = [:]
        for r in rs.rules { counts["\(r.family) \(r.table) \(r.chain)", default: 0] += 1 }
        guard counts.count == fileRules.count, counts.allSatisfy({ fileRules[$0.key]?.count == $0.value }) else { return false }
        var seen: [String: Int] = [:]
        for k in rs.rules.indices {
            let key = "\(rs.rules[k].family) \(rs.rules[k].table) \(rs.rules[k].chain)"
            let n = seen[key] ?? 0
            seen[key] = n + 1
            guard let list = fileRules[key], n < list.count else { continue }
            rs.rules[k].text = list[n].text
            rs.rules[k].handle = list[n].handle
        }
        return true
    }
}

/// The helper that runs inside the private namespace: loads the file with libnftables and prints
/// the resulting ruleset as JSON. It refuses to run outside a fresh user + network namespace, so
/// that it can never change the host's firewall.
public enum NamespaceChild {
    /// nft rejected the file (the message is on standard error).
    public static let exitNFTRejected: Int32 = 3
    /// Not in a private namespace, or libnftables unusable.
    public static let exitRefused: Int32 = 4

    public static func run(file: String) -> (status: Int32, stdout: String, stderr: String) {
        guard inPrivateUserNamespace() else {
            return (exitRefused, "", "refusing to load a ruleset outside a private user namespace (this option is for dnsaudit's own use)")
        }
        guard let ctx = NftablesContext() else { return (exitRefused, "", "libnftables could not create a context") }
        let before = ctx.run("list ruleset", json: false, handles: false)
        guard before.ok, before.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return (exitRefused, "", "refusing to load a ruleset into a namespace that already has one")
        }
        let load = ctx.load(file: file)
        guard load.ok else { return (exitNFTRejected, "", load.error) }
        let listing = ctx.run("list ruleset", json: true)
        guard listing.ok else { return (exitNFTRejected, "", listing.error) }
        return (0, listing.output, "")
    }

    /// True inside a user namespace (uid_map is not the initial namespace's identity map).
    static func inPrivateUserNamespace() -> Bool {
        guard let map = try? String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8) else { return false }
        let fields = map.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        return !(fields.count == 3 && fields[0] == "0" && fields[1] == "0" && fields[2] == "4294967295")
    }
}
