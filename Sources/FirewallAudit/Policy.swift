import NetTypes
import TOMLKit

/// What an organisation approves: its own resolvers, sanctioned NAT targets, deliberate DoT/DoH blocks.
/// Read from the policy file (TOML; see rules/policy.example.toml).
public struct FirewallPolicy: Sendable {
    /// Resolvers this organisation runs: a DNS redirect to one of them is reported as info.
    public var approvedResolvers: [AddressRange] = []
    /// Other approved NAT targets (a sanctioned TLS inspection proxy, …).
    public var approvedTargets: [ApprovedTarget] = []
    /// The organisation blocks DoT/DoH on purpose (so that clients use its resolvers).
    public var approveEncryptedDNSBlocks = false
    /// More DoH/DoT resolver addresses, added to the built-in list.
    public var extraDoHResolvers: [AddressRange] = []
    /// The plaintext resolvers the policy configures for the probes (`[probe] resolvers`): they are
    /// resolvers, so a NAT rule that diverts traffic addressed to them diverts their DNS. Entries
    /// that are not addresses (the probe reports those) are skipped here.
    public var configuredResolvers: [AddressRange] = []
    /// Where the policy came from, for messages.
    public var source: String?

    public init() {}

    /// `ADDR`, `ADDR:PORT`, `[V6]:PORT`, `:PORT`, or a prefix `10.0.0.0/24` (any port).
    public struct ApprovedTarget: Sendable, Equatable {
        public var addresses: AddressRange?
        public var port: Int?
        public var text: String

        public static func parse(_ s: String) -> ApprovedTarget? {
            if s.hasPrefix(":") {
                guard let p = Int(s.dropFirst()), (0...65535).contains(p) else { return nil }
                return ApprovedTarget(addresses: nil, port: p, text: s)
            }
            if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
                guard let a = AddressRange.parse(String(s[s.index(after: s.startIndex)..<close])) else { return nil }
                let rest = s[s.index(after: close)...]
                if rest.isEmpty { return ApprovedTarget(addresses: a, port: nil, text: s) }
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (0...65535).contains(p) else { return nil }
                return ApprovedTarget(addresses: a, port: p, text: s)
            }
            if s.filter({ $0 == ":" }).count == 1, let c = s.firstIndex(of: ":") {
                guard let a = AddressRange.parse(String(s[..<c])), let p = Int(s[s.index(after: c)...]), (0...65535).contains(p) else {
                    return nil
                }
                return ApprovedTarget(addresses: a, port: p, text: s)
            }
            guard let a = AddressRange.parse(s) else { return nil }
            return ApprovedTarget(addresses: a, port: nil, text: s)
        }

        /// `address` nil means "this machine" (redirect, tproxy without an address).
        public func matches(address: IPAddress?, port: Int?) -> Bool {
            if let want = addresses {
                guard let a = address ?? IPAddress(want.isV6 ? "::1" : "127.0.0.1"), want.contains(a) else { return false }
            }
            if let want = self.port, want != port { return false }
            return true
        }
    }

    static let firewallKeys: Set<String> = ["approved_resolvers", "approved_targets", "approve_encrypted_dns_blocks", "doh_resolvers"]

    /// Parses the TOML policy. Top-level `approved_resolvers` and the `[firewall]` table are read;
    /// other tables belong to other commands and are left alone.
    public static func parse(toml text: String, source: String? = nil) throws -> FirewallPolicy {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw PolicyError("\(source ?? "policy"): line \(e.source.begin.line): \(e.description)")
        }
        var p = FirewallPolicy()
        p.source = source
        let where_ = source ?? "policy"
        func addresses(_ v: TOMLValueConvertible?, _ key: String) throws -> [AddressRange] {
            guard let v else { return [] }
            guard let arr = v.array else { throw PolicyError("\(where_): \(key) must be an array of addresses") }
            var out: [AddressRange] = []
            for item in arr {
                guard let s = item.string, let r = AddressRange.parse(s) else {
                    throw PolicyError("\(where_): \(key): '\(item.string ?? item.debugDescription)' is not an address or prefix")
                }
                out.append(r)
            }
            return out
        }
        p.approvedResolvers = try addresses(root["approved_resolvers"], "approved_resolvers")
        if let probe = root["probe"]?.table, let list = probe["resolvers"]?.array {
            p.configuredResolvers = list.compactMap { item in
                item.string.flatMap { s in AddressRange.parse(s) ?? Self.hostPart(s).flatMap(AddressRange.parse) }
            }
        }
        if let fwValue = root["firewall"] {
            guard let fw = fwValue.table else { throw PolicyError("\(where_): [firewall] must be a table") }
            for key in fw.keys where !firewallKeys.contains(key) {
                throw PolicyError("\(where_): unknown key '\(key)' in [firewall] (known: \(firewallKeys.sorted().joined(separator: ", ")))")
            }
            p.approvedResolvers += try addresses(fw["approved_resolvers"], "firewall.approved_resolvers")
            p.extraDoHResolvers = try addresses(fw["doh_resolvers"], "firewall.doh_resolvers")
            if let t = fw["approved_targets"] {
                guard let arr = t.array else { throw PolicyError("\(where_): firewall.approved_targets must be an array") }
                for item in arr {
                    guard let s = item.string, let at = ApprovedTarget.parse(s) else {
                        throw PolicyError("\(where_): firewall.approved_targets: '\(item.string ?? item.debugDescription)' is not ADDR, ADDR:PORT or :PORT")
                    }
                    p.approvedTargets.append(at)
                }
            }
            if let b = fw["approve_encrypted_dns_blocks"] {
                guard let v = b.bool else { throw PolicyError("\(where_): firewall.approve_encrypted_dns_blocks must be true or false") }
                p.approveEncryptedDNSBlocks = v
            }
        }
        return p
    }
}

extension FirewallPolicy {
    /// The address of `ADDR:PORT` / `[V6]:PORT`; nil when `s` has no port.
    static func hostPart(_ s: String) -> String? {
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") { return String(s[s.index(after: s.startIndex)..<close]) }
        if s.filter({ $0 == ":" }).count == 1, let c = s.firstIndex(of: ":") { return String(s[..<c]) }
        return nil
    }

    /// The resolvers this policy names, with where each was named (for evidence).
    public var namedResolvers: [ResolverAddress] {
        let from = source.map { " in \($0)" } ?? " in the policy"
        return approvedResolvers.map { ResolverAddress(range: $0, source: "approved_resolvers\(from)") }
            + configuredResolvers.map { ResolverAddress(range: $0, source: "[probe] resolvers\(from)") }
    }
}

public struct PolicyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
