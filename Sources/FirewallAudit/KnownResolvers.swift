/// The built-in list of public DoH/DoT resolver addresses: the text of rules/doh-resolvers.txt,
/// kept identical by FirewallTests (edit both together).
public enum KnownResolvers {
    public static let builtInText = #"""
# Addresses of well-known public DNS-over-HTTPS / DNS-over-TLS resolvers.
#
# dnsaudit reports a rule that drops or rejects traffic to one of these addresses (on port 443 or
# on every port) as firewall.encrypted-dns-block, and a NAT rule that diverts DNS sent to one of
# them as a redirect of a public resolver. One address or prefix per line; '#' starts a comment.
# The list is compiled into dnsaudit (Sources/FirewallAudit/KnownResolvers.swift holds the same
# text, and a test keeps the two equal); a policy file can add more with [firewall] doh_resolvers.

# Cloudflare (1.1.1.1, families)
1.1.1.1
1.0.0.1
1.1.1.2
1.0.0.2
1.1.1.3
1.0.0.3
2606:4700:4700::1111
2606:4700:4700::1001
2606:4700:4700::1112
2606:4700:4700::1002
2606:4700:4700::1113
2606:4700:4700::1003

# Google Public DNS
8.8.8.8
8.8.4.4
2001:4860:4860::8888
2001:4860:4860::8844

# Quad9
9.9.9.9
149.112.112.112
9.9.9.10
149.112.112.10
9.9.9.11
149.112.112.11
2620:fe::fe
2620:fe::9
2620:fe::10
2620:fe::fe:10
2620:fe::11
2620:fe::fe:11

# OpenDNS / Cisco Umbrella
208.67.222.222
208.67.220.220
208.67.222.123
208.67.220.123
2620:119:35::35
2620:119:53::53

# AdGuard DNS
94.140.14.14
94.140.15.15
94.140.14.15
94.140.15.16
2a10:50c0::ad1:ff
2a10:50c0::ad2:ff

# CleanBrowsing
185.228.168.9
185.228.169.9
185.228.168.168
185.228.169.168
2a0d:2a00:1::2
2a0d:2a00:2::2

# Mullvad DNS
194.242.2.2
194.242.2.3
194.242.2.4
2a07:e340::2
2a07:e340::3
2a07:e340::4

# DNS.SB
185.222.222.222
45.11.45.11
2a09::
2a11::

# NextDNS (anycast)
45.90.28.0/24
45.90.30.0/24
2a07:a8c0::/33
2a07:a8c1::/33

# Control D
76.76.2.0
76.76.10.0
2606:1a40::
2606:1a40:1::
"""#

    /// The built-in list, parsed.
    public static let builtIn: [AddressRange] = parse(builtInText).ranges

    /// One address or prefix per line; `#` comments. Returns the ranges and the lines it could not read.
    public static func parse(_ text: String) -> (ranges: [AddressRange], bad: [String]) {
        var out: [AddressRange] = []
        var bad: [String] = []
        for raw in text.split(separator: "\n") {
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let item = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first.map(String.init) ?? ""
            if item.isEmpty { continue }
            if let r = AddressRange.parse(item) { out.append(r) } else { bad.append(item) }
        }
        return (out, bad)
    }
}
