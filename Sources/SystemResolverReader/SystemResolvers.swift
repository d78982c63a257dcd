// The one reader of this machine's resolver configuration: the `nameserver` lines of
// /etc/resolv.conf and of systemd-resolved's /run/systemd/resolve/resolv.conf (its real upstreams,
// behind the 127.0.0.53 stub). The firewall audit asks which resolvers this machine uses (a
// firewall that blocks their encrypted ports stops its DoH/DoT); the probes ask which resolver
// to check (the stub and, behind it, what it forwards to).

import Foundation

public enum SystemResolvers {
    public static let resolvConf = "/etc/resolv.conf"
    public static let resolvedUpstreams = "/run/systemd/resolve/resolv.conf"
    public static let defaultFiles = [resolvConf, resolvedUpstreams]

    /// systemd-resolved's stub listeners.
    public static let stubAddresses: Set<String> = ["127.0.0.53", "127.0.0.54"]

    /// One configured nameserver and the file that names it.
    public struct Nameserver: Sendable, Hashable {
        public var address: String
        public var file: String

        public init(address: String, file: String) {
            self.address = address
            self.file = file
        }
    }

    /// Every nameserver in the files that exist and can be read (each address once, first file wins).
    public static func read(files: [String] = defaultFiles) -> [Nameserver] {
        var out: [Nameserver] = []
        for f in files {
            guard let text = contents(f) else { continue }
            for a in nameservers(in: text) where !out.contains(where: { $0.address == a }) {
                out.append(Nameserver(address: a, file: f))
            }
        }
        return out
    }

    /// The resolvers to check, and what the reading found worth saying.
    public struct Found: Sendable {
        public var addresses: [String]
        public var notes: [String]
    }

    /// The nameservers of `resolvConf`; when those are only systemd-resolved's stub, also the
    /// upstreams it forwards to (from `resolvedUpstreams`).
    public static func toCheck(resolvConf: String = resolvConf, resolvedUpstreams: String = resolvedUpstreams) -> Found {
        var notes: [String] = []
        guard let text = contents(resolvConf) else {
            return Found(addresses: [], notes: ["\(resolvConf) cannot be read: no system resolver to check"])
        }
        var addrs = nameservers(in: text)
        if !addrs.isEmpty && addrs.allSatisfy(stubAddresses.contains), let up = contents(resolvedUpstreams) {
            let upstream = nameservers(in: up).filter { !stubAddresses.contains($0) }
            if !upstream.isEmpty {
                notes.append("systemd-resolved (\(addrs.joined(separator: ", "))) forwards to \(upstream.joined(separator: ", ")); both are checked")
                addrs += upstream
            }
        }
        if addrs.isEmpty { notes.append("\(resolvConf) names no nameserver") }
        return Found(addresses: addrs, notes: notes)
    }

    /// `nameserver ADDR` lines (resolv.conf(5)), in order, each address once; a zone index
    /// (`fe80::1%eth0`) is dropped. `#` and `;` start comments. Addresses are returned as written,
    /// unchecked. At most the first 10,000 lines are read.
    public static func nameservers(in text: String) -> [String] {
        var out: [String] = []
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).prefix(10_000) {
            let line = raw.prefix { $0 != "#" && $0 != ";" }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver" else { continue }
            var addr = String(words[1])
            if let pct = addr.firstIndex(of: "%") { addr = String(addr[..<pct]) }
            if !addr.isEmpty && !out.contains(addr) { out.append(addr) }
        }
        return out
    }

    static func contents(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }
}
