import Foundation

/// The resolvers this machine uses: `nameserver` lines of /etc/resolv.conf; when that is only
/// systemd-resolved's stub (127.0.0.53 / 127.0.0.54), also the upstreams it forwards to, from
/// /run/systemd/resolve/resolv.conf.
public enum SystemResolvers {
    public struct Found: Sendable {
        public var addresses: [String]
        public var notes: [String]
    }

    public static let stubAddresses: Set<String> = ["127.0.0.53", "127.0.0.54"]

    public static func read(resolvConf: String = "/etc/resolv.conf",
                            resolvedUpstreams: String = "/run/systemd/resolve/resolv.conf") -> Found {
        var notes: [String] = []
        guard let text = try? String(contentsOfFile: resolvConf, encoding: .utf8) else {
            return Found(addresses: [], notes: ["\(resolvConf) cannot be read: no system resolver to check"])
        }
        var addrs = nameservers(text)
        if !addrs.isEmpty && addrs.allSatisfy(stubAddresses.contains) {
            if let up = try? String(contentsOfFile: resolvedUpstreams, encoding: .utf8) {
                let upstream = nameservers(up).filter { !stubAddresses.contains($0) }
                if !upstream.isEmpty {
                    notes.append("systemd-resolved (\(addrs.joined(separator: ", "))) forwards to \(upstream.joined(separator: ", ")); both are checked")
                    addrs += upstream
                }
            }
        }
        if addrs.isEmpty { notes.append("\(resolvConf) names no nameserver") }
        return Found(addresses: addrs, notes: notes)
    }

    /// `nameserver ADDR` lines (IPv6 zone ids dropped), in order, without duplicates.
    public static func nameservers(_ text: String) -> [String] {
        var out: [String] = []
        for raw in text.split(whereSeparator: { $0 == "\n" }) {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver" else { continue }
            var a = String(words[1])
            if let pct = a.firstIndex(of: "%") { a = String(a[..<pct]) }
            if !out.contains(a) { out.append(a) }
        }
        return out
    }
}
