import Foundation

/// The resolvers this machine is configured to use: the `nameserver` lines of `/etc/resolv.conf`
/// and of systemd-resolved's `/run/systemd/resolve/resolv.conf` (its real upstreams, behind the
/// 127.0.0.53 stub). A firewall that blocks their encrypted ports stops this machine's DoH/DoT.
public enum SystemResolvers {
    public static let defaultFiles = ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"]

    /// One configured nameserver and the file that names it.
    public struct Nameserver: Sendable, Equatable {
        public var address: String
        public var file: String
    }

    /// Every nameserver in the files that exist and can be read (each address once, first file wins).
    public static func read(files: [String] = defaultFiles) -> [Nameserver] {
        var out: [Nameserver] = []
        for f in files {
            guard let text = try? String(contentsOfFile: f, encoding: .utf8) else { continue }
            for a in nameservers(in: text) where !out.contains(where: { $0.address == a }) {
                out.append(Nameserver(address: a, file: f))
            }
        }
        return out
    }

    /// `nameserver ADDR` lines (resolv.conf(5)); a zone index (`fe80::1%eth0`) is dropped.
    /// Comments start with `#` or `;`. Addresses are returned as written, unchecked.
    public static func nameservers(in text: String) -> [String] {
        var out: [String] = []
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).prefix(10_000) {
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver" else { continue }
            var addr = String(words[1])
            if let pct = addr.firstIndex(of: "%") { addr = String(addr[..<pct]) }
            if !addr.isEmpty && !out.contains(addr) { out.append(addr) }
        }
        return out
    }
}
