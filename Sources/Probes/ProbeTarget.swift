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
