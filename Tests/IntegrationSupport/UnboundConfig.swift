import Foundation

/// One builder for the unbound configurations the labs write. Every lab unbound has the same
/// preamble: in the foreground, no syslog, user, chroot or pid file, its directory the lab's own,
/// one thread, IPv4 only, no root hints and no trust anchor file, clients from `allow` only,
/// remote control off — and, last, a forwarder for "." on a closed port of loopback, so a name the
/// lab does not serve is never looked up outside the lab (the network rule).
public struct UnboundConfig {
    /// The lab's lines of the `server:` clause (interfaces, modules, zones, identity…), unindented.
    public var server: [String]
    /// Further top-level clauses (`forward-zone:`, `stub-zone:`, `auth-zone:`), each a list of
    /// lines, the first the clause header (`forward-zone:`), the rest its settings, unindented.
    public var clauses: [[String]]
    /// The address range allowed to query (`access-control: RANGE allow`).
    public var allow: String

    public init(allow: String = "198.18.0.0/15", server: [String], clauses: [[String]] = []) {
        self.allow = allow
        self.server = server
        self.clauses = clauses
    }

    /// `local-zone: "." refuse` plus a static `zone` with an SOA and `records` ("NAME TTL IN TYPE DATA"):
    /// the lines of a resolver that answers its own zone and refuses every other name.
    public static func onlyZone(_ zone: String, records: [String]) -> [String] {
        ["local-zone: \".\" refuse", "local-zone: \"\(zone).\" static",
         "local-data: \"\(zone). 300 IN SOA ns.\(zone). admin.\(zone). 1 3600 600 86400 300\""]
            + records.map { "local-data: \"\($0)\"" }
    }

    /// The configuration text, for a lab whose files live in `directory`.
    public func text(directory: URL) -> String {
        let preamble = [
            "verbosity: 1", "use-syslog: no", "logfile: \"\"", "username: \"\"", "chroot: \"\"",
            "directory: \"\(directory.path)\"", "pidfile: \"\"", "do-daemonize: no", "num-threads: 1", "do-ip6: no",
            "access-control: \(allow) allow", "do-not-query-localhost: no", "root-hints: \"\"", "auto-trust-anchor-file: \"\"",
        ]
        var out = "server:\n" + (preamble + server).map { "    \($0)\n" }.joined()
        out += "remote-control:\n    control-enable: no\n"
        for clause in clauses + [["forward-zone:", "name: \".\"", "forward-addr: 127.0.0.1@9"]] {
            guard let head = clause.first else { continue }
            out += head + "\n" + clause.dropFirst().map { "    \($0)\n" }.joined()
        }
        return out + "\n"
    }

    /// Writes the configuration as `name` in the lab's directory and returns its URL.
    @discardableResult
    public func write(_ name: String, in lab: NamespaceLab) throws -> URL {
        let url = lab.file(name)
        try text(directory: lab.dir).write(to: url, atomically: true, encoding: .utf8)
        return url
    }
}
