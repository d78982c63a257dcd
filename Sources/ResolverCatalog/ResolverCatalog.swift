// The one list of well-known public DNS resolver operators: their service addresses, the names of
// their encrypted endpoints (DoH / DoT SNI, certificate identities) and the built-in references.
// The firewall audit reads which addresses are public encrypted-DNS resolvers, the capture which
// SNIs are DoH, the probes who a known address is, and the CLI its default references — all from
// here. These are defaults for real users only: no test may contact them.

/// One operator of public resolvers.
public struct ResolverOperator: Sendable, Hashable {
    /// "Cloudflare", "Quad9"…
    public let name: String
    /// The heading of its block in rules/doh-resolvers.txt; nil: not in that list (no addresses).
    public let listHeading: String?
    /// Every address or prefix of its public resolvers (plain, filtering and family variants), in
    /// the order of rules/doh-resolvers.txt.
    public let addresses: [String]
    /// The main addresses whose DoT/DoH certificates carry `tlsName` (a subset of `addresses`).
    public let identityAddresses: [String]
    /// The name in the certificate of its DoT/DoH service reached by address; nil: none claimed.
    public let tlsName: String?
    /// Its DNS-over-HTTPS service names (the SNI a browser or OS sends).
    public let dohNames: [String]

    public init(name: String, listHeading: String?, addresses: [String] = [], identityAddresses: [String] = [],
                tlsName: String? = nil, dohNames: [String]) {
        self.name = name
        self.listHeading = listHeading
        self.addresses = addresses
        self.identityAddresses = identityAddresses
        self.tlsName = tlsName
        self.dohNames = dohNames
    }
}

public enum ResolverCatalog {
    public static let operators: [ResolverOperator] = [
        ResolverOperator(
            name: "Cloudflare", listHeading: "Cloudflare (1.1.1.1, families)",
            addresses: ["1.1.1.1", "1.0.0.1", "1.1.1.2", "1.0.0.2", "1.1.1.3", "1.0.0.3",
                        "2606:4700:4700::1111", "2606:4700:4700::1001", "2606:4700:4700::1112", "2606:4700:4700::1002",
                        "2606:4700:4700::1113", "2606:4700:4700::1003"],
            identityAddresses: ["1.1.1.1", "1.0.0.1", "2606:4700:4700::1111", "2606:4700:4700::1001"],
            tlsName: "cloudflare-dns.com",
            dohNames: ["cloudflare-dns.com", "mozilla.cloudflare-dns.com", "chrome.cloudflare-dns.com", "one.one.one.one",
                       "1dot1dot1dot1.cloudflare-dns.com", "security.cloudflare-dns.com", "family.cloudflare-dns.com"]),
        ResolverOperator(
            name: "Google", listHeading: "Google Public DNS",
            addresses: ["8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"],
            identityAddresses: ["8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"],
            tlsName: "dns.google",
            dohNames: ["dns.google", "dns.google.com", "dns64.dns.google"]),
        ResolverOperator(
            name: "Quad9", listHeading: "Quad9",
            addresses: ["9.9.9.9", "149.112.112.112", "9.9.9.10", "149.112.112.10", "9.9.9.11", "149.112.112.11",
                        "2620:fe::fe", "2620:fe::9", "2620:fe::10", "2620:fe::fe:10", "2620:fe::11", "2620:fe::fe:11"],
            identityAddresses: ["9.9.9.9", "149.112.112.112", "2620:fe::fe", "2620:fe::9"],
            tlsName: "dns.quad9.net",
            dohNames: ["dns.quad9.net", "dns9.quad9.net", "dns10.quad9.net", "dns11.quad9.net"]),
        ResolverOperator(
            name: "OpenDNS", listHeading: "OpenDNS / Cisco Umbrella",
            addresses: ["208.67.222.222", "208.67.220.220", "208.67.222.123", "208.67.220.123", "2620:119:35::35", "2620:119:53::53"],
            identityAddresses: ["208.67.222.222", "208.67.220.220"],
            tlsName: "dns.opendns.com",
            dohNames: ["doh.opendns.com"]),
        ResolverOperator(
            name: "AdGuard", listHeading: "AdGuard DNS",
            addresses: ["94.140.14.14", "94.140.15.15", "94.140.14.15", "94.140.15.16", "2a10:50c0::ad1:ff", "2a10:50c0::ad2:ff"],
            identityAddresses: ["94.140.14.14", "94.140.15.15"],
            tlsName: "dns.adguard-dns.com",
            dohNames: ["dns.adguard.com", "dns.adguard-dns.com"]),
        ResolverOperator(
            name: "CleanBrowsing", listHeading: "CleanBrowsing",
            addresses: ["185.228.168.9", "185.228.169.9", "185.228.168.168", "185.228.169.168", "2a0d:2a00:1::2", "2a0d:2a00:2::2"],
            dohNames: ["doh.cleanbrowsing.org"]),
        ResolverOperator(
            name: "Mullvad", listHeading: "Mullvad DNS",
            addresses: ["194.242.2.2", "194.242.2.3", "194.242.2.4", "2a07:e340::2", "2a07:e340::3", "2a07:e340::4"],
            dohNames: ["dns.mullvad.net", "doh.mullvad.net"]),
        ResolverOperator(
            name: "DNS.SB", listHeading: "DNS.SB",
            addresses: ["185.222.222.222", "45.11.45.11", "2a09::", "2a11::"],
            dohNames: ["doh.dns.sb"]),
        ResolverOperator(
            name: "NextDNS", listHeading: "NextDNS (anycast)",
            addresses: ["45.90.28.0/24", "45.90.30.0/24", "2a07:a8c0::/33", "2a07:a8c1::/33"],
            dohNames: ["dns.nextdns.io"]),
        ResolverOperator(
            name: "Control D", listHeading: "Control D",
            addresses: ["76.76.2.0", "76.76.10.0", "2606:1a40::", "2606:1a40:1::"],
            dohNames: ["dns.controld.com", "freedns.controld.com"]),
        // Known by their DoH names only.
        ResolverOperator(name: "Alibaba", listHeading: nil, dohNames: ["dns.alidns.com"]),
        ResolverOperator(name: "DNSPod", listHeading: nil, dohNames: ["doh.pub"]),
        ResolverOperator(name: "SWITCH", listHeading: nil, dohNames: ["dns.switch.ch"]),
        ResolverOperator(name: "LibreDNS", listHeading: nil, dohNames: ["doh.libredns.gr"]),
        ResolverOperator(name: "dns0.eu", listHeading: nil, dohNames: ["dns0.eu"]),
        ResolverOperator(name: "Hurricane Electric", listHeading: nil, dohNames: ["ordns.he.net"]),
    ]

    /// The built-in references (IP literals, so a hijacked resolver cannot poison the bootstrap).
    public static let defaultReferences = ["https://1.1.1.1/dns-query", "https://9.9.9.9/dns-query", "tls://1.1.1.1", "tls://9.9.9.9", "tls://8.8.8.8"]

    /// Every operator's DoH service names (lowercase).
    public static let dohNames: Set<String> = Set(operators.flatMap(\.dohNames) + odohEndpoints.keys)

    /// Public Oblivious DoH (RFC 9230) endpoints by server name → "target" or "relay" (the
    /// dnscrypt-resolvers ODoH lists); a ClientHello naming one is ODoH on the wire. Data only:
    /// dnsaudit never contacts them.
    public static let odohEndpoints: [String: String] = [
        "odoh.cloudflare-dns.com": "target", "odoh.crypto.sx": "target",
        "odoh-target.alekberg.net": "target", "odoh-target-noads.alekberg.net": "target",
        "odoh-relay.edgecompute.app": "relay", "odoh1.surfdomeinen.nl": "relay",
        "odoh-nl.alekberg.net": "relay", "odoh-es.alekberg.net": "relay",
    ]

    /// The operator whose certificate identity covers `address` (one of its main addresses), or nil.
    public static func identity(for address: String) -> ResolverOperator? {
        let a = address.lowercased()
        return operators.first { $0.identityAddresses.contains(a) }
    }

    /// The certificate name of the DoT/DoH service at `host` (an address), or nil.
    public static func tlsName(for host: String) -> String? {
        identity(for: host)?.tlsName
    }

    /// The text of rules/doh-resolvers.txt: every operator's addresses under its heading, one a
    /// line. The firewall audit parses it (and a policy file's `doh_resolvers` in the same form);
    /// a test keeps the file equal to it.
    public static let addressListText: String = {
        var out = """
        # Addresses of well-known public DNS-over-HTTPS / DNS-over-TLS resolvers.
        #
        # dnsaudit reports a rule that drops or rejects traffic to one of these addresses (on port 443 or
        # on every port) as firewall.encrypted-dns-block, and a NAT rule that diverts DNS sent to one of
        # them as a redirect of a public resolver. One address or prefix per line; '#' starts a comment.
        # The list is compiled into dnsaudit (Sources/ResolverCatalog/ResolverCatalog.swift holds the
        # operators, and a test keeps this file equal to them); a policy file can add more with
        # [firewall] doh_resolvers.

        """
        for op in operators {
            guard let heading = op.listHeading else { continue }
            out += "\n# \(heading)\n"
            for a in op.addresses { out += a + "\n" }
        }
        return out
    }()
}
