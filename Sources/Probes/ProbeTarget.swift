import Foundation

/// Something the reachability ladder checks: `host`, `host:port`, or a URL
/// (`https://host[:port]/path`, `http://…`).
public struct ProbeTarget: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var tls: Bool
    /// The HTTP path to request (nil: stop after TLS).
    public var path: String?
    public var original: String

    public var description: String { original }

    public init(host: String, port: Int, tls: Bool, path: String?, original: String) {
        self.host = host
        self.port = port
        self.tls = tls
        self.path = path
        self.original = original
    }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func parse(_ text: String) throws -> ProbeTarget {
        var rest = Substring(text)
        var tls = true
        var path: String? = "/"
        if let r = rest.range(of: "://") {
            let scheme = rest[..<r.lowerBound].lowercased()
            guard scheme == "https" || scheme == "http" else {
                throw ParseError(description: "target '\(text)': only https:// and http:// URLs (or a bare host name) are probed")
            }
            tls = scheme == "https"
            rest = rest[r.upperBound...]
        }
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = tls ? 443 : 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw ParseError(description: "target '\(text)': unclosed '['") }
            let after = host[host.index(after: close)...]
            let inner = String(host[host.index(after: host.startIndex)..<close])
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw ParseError(description: "target '\(text)': bad port") }
                port = p
            }
            host = inner
        } else if host.filter({ $0 == ":" }).count == 1, let c = host.firstIndex(of: ":") {
            guard let p = Int(host[host.index(after: c)...]), (1...65535).contains(p) else { throw ParseError(description: "target '\(text)': bad port") }
            port = p
            host = String(host[..<c])
        }
        host = host.lowercased()
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-_:".contains($0)) }) else {
            throw ParseError(description: "target '\(text)': not a host name or URL")
        }
        return ProbeTarget(host: host, port: port, tls: tls, path: path, original: text)
    }

    /// GOPROXY entries (`,` and `|` separated; `direct` and `off` skipped), each with a real module
    /// path appended so the proxy must answer as a proxy.
    public static func goproxyTargets(_ goproxy: String, module: String = "/golang.org/x/text/@v/list") throws -> [ProbeTarget] {
        var out: [ProbeTarget] = []
        for raw in goproxy.split(whereSeparator: { $0 == "," || $0 == "|" }) {
            let e = raw.trimmingCharacters(in: .whitespaces)
            if e.isEmpty || e == "direct" || e == "off" { continue }
            var t = try parse(e)
            let base = (t.path ?? "/").hasSuffix("/") ? String((t.path ?? "/").dropLast()) : (t.path ?? "")
            t.path = base + module
            out.append(t)
        }
        return out
    }
}

/// What the Go toolchain contacts to fetch and verify a module (`go help environment`,
/// `go help module-auth`): the GOPROXY entries in order, the checksum database (GOSUMDB) unless it
/// is `off` or the module matches GONOSUMDB (default GOPRIVATE), and the module's own host (direct
/// VCS) for a `direct` entry or a module matching GONOPROXY (default GOPRIVATE). GOFLAGS carries
/// command flags (`-mod`, `-insecure` is gone), none of which changes these, so it is not read.
public struct GoModuleSettings: Sendable, Equatable {
    public var goproxy: String
    public var gosumdb: String
    public var gonosumdb: String
    public var gonoproxy: String
    public var goprivate: String

    public static let defaultProxy = "https://proxy.golang.org,direct"
    public static let defaultSumDB = "sum.golang.org"
    public static let variables = ["GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOPROXY", "GOPRIVATE"]

    public init(goproxy: String = defaultProxy, gosumdb: String = defaultSumDB, gonosumdb: String = "", gonoproxy: String = "", goprivate: String = "") {
        self.goproxy = goproxy
        self.gosumdb = gosumdb
        self.gonosumdb = gonosumdb
        self.gonoproxy = gonoproxy
        self.goprivate = goprivate
    }

    /// From the environment, else `go env` (`goEnv`: the variable's value there, or nil), else Go's
    /// defaults; GONOSUMDB and GONOPROXY default to GOPRIVATE, as in Go.
    public static func resolve(environment: [String: String], goEnv: [String: String] = [:]) -> GoModuleSettings {
        func value(_ name: String) -> String? {
            if let v = environment[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty { return v }
            if let v = goEnv[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty { return v }
            return nil
        }
        let priv = value("GOPRIVATE") ?? ""
        return GoModuleSettings(goproxy: value("GOPROXY") ?? defaultProxy, gosumdb: value("GOSUMDB") ?? defaultSumDB,
                                gonosumdb: value("GONOSUMDB") ?? priv, gonoproxy: value("GONOPROXY") ?? priv, goprivate: priv)
    }

    /// The checksum database: `off` (nil), `NAME`, `NAME+KEY`, or either followed by a URL. Without a
    /// URL it is `https://NAME`.
    public struct SumDB: Sendable, Equatable {
        public var name: String
        public var key: String?
        public var url: String

        public init(name: String, key: String?, url: String) {
            self.name = name
            self.key = key
            self.url = url
        }
    }

    public func sumDB() throws -> SumDB? {
        let fields = gosumdb.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let first = fields.first else { return SumDB(name: Self.defaultSumDB, key: nil, url: "https://\(Self.defaultSumDB)") }
        if first == "off" {
            guard fields.count == 1 else { throw ProbeTarget.ParseError(description: "GOSUMDB '\(gosumdb)': 'off' takes nothing after it") }
            return nil
        }
        guard fields.count <= 2 else { throw ProbeTarget.ParseError(description: "GOSUMDB '\(gosumdb)': expected NAME[+KEY] [URL]") }
        let parts = first.split(separator: "+", maxSplits: 1).map(String.init)
        let name = parts[0]
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-_:".contains($0)) }) else {
            throw ProbeTarget.ParseError(description: "GOSUMDB '\(gosumdb)': '\(name)' is not a database name")
        }
        let url = fields.count == 2 ? fields[1] : "https://\(name)"
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            throw ProbeTarget.ParseError(description: "GOSUMDB '\(gosumdb)': the URL must be https:// or http://")
        }
        return SumDB(name: name, key: parts.count == 2 ? parts[1] : nil, url: url)
    }

    /// Go's `module.MatchPrefixPatterns`: does a prefix of `module` (as many path elements as the
    /// pattern has) match one of the comma-separated glob patterns (`*`, `?`, not across `/`)?
    public static func matches(_ module: String, patterns: String) -> Bool {
        let elements = module.split(separator: "/", omittingEmptySubsequences: false)
        for raw in patterns.split(separator: ",") {
            let pattern = raw.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if pattern.isEmpty { continue }
            let n = pattern.split(separator: "/", omittingEmptySubsequences: false).count
            guard n <= elements.count else { continue }
            if glob(Array(pattern.utf8), Array(elements.prefix(n).joined(separator: "/").utf8)) { return true }
        }
        return false
    }

    /// `path.Match` for `*` and `?` (neither matches `/`); other bytes literally.
    static func glob(_ p: [UInt8], _ s: [UInt8]) -> Bool {
        var pi = 0, si = 0
        var star = -1, mark = 0
        while si < s.count {
            if pi < p.count && (p[pi] == UInt8(ascii: "?") && s[si] != UInt8(ascii: "/") || p[pi] == s[si] && p[pi] != UInt8(ascii: "*")) {
                pi += 1; si += 1
            } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi; mark = si; pi += 1
            } else if star >= 0 && s[mark] != UInt8(ascii: "/") {
                pi = star + 1; mark += 1; si = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }

    /// The services `go mod download MODULE` contacts, in the order it contacts them.
    public func plan(module: String = GoModuleSettings.defaultModule) throws -> GoModulePlan {
        var plan = GoModulePlan(module: module)
        let listPath = "/\(module)/@v/list"
        let direct = ProbeTarget(host: String(module.split(separator: "/").first ?? ""), port: 443, tls: true,
                                 path: "/\(module.split(separator: "/").dropFirst().joined(separator: "/"))?go-get=1",
                                 original: "https://\(module)?go-get=1")
        if Self.matches(module, patterns: gonoproxy) {
            plan.notes.append("\(module) matches GONOPROXY (\(gonoproxy)): fetched directly from its VCS, not through GOPROXY")
            plan.steps.append(.init(role: .direct, target: direct, fallsBackOnAnyError: false))
        } else {
            // Entries and what follows each: ',' falls back only on 404/410, '|' on any error.
            var entries: [(String, Bool)] = []
            var current = ""
            for ch in goproxy {
                if ch == "," || ch == "|" {
                    entries.append((current.trimmingCharacters(in: .whitespaces), ch == "|"))
                    current = ""
                } else {
                    current.append(ch)
                }
            }
            entries.append((current.trimmingCharacters(in: .whitespaces), false))
            for (entry, anyError) in entries where !entry.isEmpty {
                if entry == "off" {
                    plan.notes.append("GOPROXY reaches 'off': the go command stops there (module downloads disallowed)")
                    break
                }
                if entry == "direct" {
                    plan.steps.append(.init(role: .direct, target: direct, fallsBackOnAnyError: anyError))
                    continue
                }
                var t = try ProbeTarget.parse(entry)
                let base = (t.path ?? "/").hasSuffix("/") ? String((t.path ?? "/").dropLast()) : (t.path ?? "")
                t.path = base + listPath
                plan.steps.append(.init(role: .proxy, target: t, fallsBackOnAnyError: anyError))
            }
        }
        if let db = try sumDB() {
            if Self.matches(module, patterns: gonosumdb) {
                plan.notes.append("\(module) matches GONOSUMDB (\(gonosumdb)): the checksum database is not consulted for it")
            } else {
                var t = try ProbeTarget.parse(db.url)
                let base = (t.path ?? "/").hasSuffix("/") ? String((t.path ?? "/").dropLast()) : (t.path ?? "")
                t.path = base + "/latest"
                plan.sumDBName = db.name
                plan.steps.append(.init(role: .checksumDatabase, target: t, fallsBackOnAnyError: false))
            }
        } else {
            plan.notes.append("GOSUMDB=off: downloaded modules are not verified against a checksum database")
        }
        return plan
    }

    /// A real module, so that a proxy must answer as a proxy.
    public static let defaultModule = "golang.org/x/text"
}

/// The services one module fetch contacts, and how a failure of each propagates.
public struct GoModulePlan: Sendable, Equatable {
    public enum Role: String, Sendable, Equatable {
        case proxy = "module proxy", checksumDatabase = "checksum database", direct = "direct VCS"
    }

    public struct Step: Sendable, Equatable {
        public var role: Role
        public var target: ProbeTarget
        /// The GOPROXY separator after it was `|`: any error falls through to the next entry (`,`
        /// only on 404/410, which a broken path does not produce).
        public var fallsBackOnAnyError: Bool
    }

    public var module: String
    public var steps: [Step] = []
    public var notes: [String] = []
    public var sumDBName: String?

    public var targets: [ProbeTarget] { steps.map(\.target) }

    /// Which service the fetch fails at first, given which targets are reachable (`works`): the
    /// fetch stage (proxies and direct in GOPROXY order; a broken entry is passed over only when
    /// `|` follows it), then the checksum database. Nil: everything it needs works.
    public func firstFailure(_ works: (ProbeTarget) -> Bool) -> Step? {
        var fetched = false
        var firstBroken: Step?
        for s in steps where s.role != .checksumDatabase {
            if works(s.target) { fetched = true; break }
            if firstBroken == nil { firstBroken = s }
            if !s.fallsBackOnAnyError { break }
        }
        if !fetched, let b = firstBroken { return b }
        if let db = steps.first(where: { $0.role == .checksumDatabase }), !works(db.target) { return db }
        return nil
    }
}
