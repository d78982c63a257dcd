import Foundation
import IntegrationSupport
import XCTest

// MARK: - DNSSEC stripping (issue 20 item 5)

/// On top of `HXLab`: a signed zone sec.test (ldns-keygen / ldns-signzone, ECDSA P-256) served by
/// an authoritative unbound (auth-zone) at 198.18.160.1, with broken.sec.test's RRSIG corrupted;
/// a validating unbound at 198.18.170.53 (trust anchor: the zone's KSK, stub to the authority);
/// and a python stripping forwarder at 198.18.180.53 that relays to the authority, drops every
/// RRSIG and sets AD without validating.
extension HXLab {
    static let authority = "198.18.160.1"
    static let validator = "198.18.170.53"
    static let stripper = "198.18.180.53"
    static let signedZone = "sec.test"
    static let signedName = "www.sec.test"
    static let brokenName = "broken.sec.test"

    static let stripperScript = #"""
    # A DNS forwarder that strips DNSSEC: relays each UDP query to UPSTREAM, removes RRSIG records
    # from the answer section, drops the authority section and all but EDNS, and sets AD. Usage: stripper.py LISTEN UPSTREAM
    import socket, struct, sys
    listen, upstream = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((listen, 53))
    print("listening", flush=True)

    def skip_name(m, i):
        while True:
            l = m[i]
            if l == 0:
                return i + 1
            if l & 0xC0 == 0xC0:
                return i + 2
            i += 1 + l

    def strip(m):
        qd, an = struct.unpack("!HH", m[4:8])
        i = 12
        for _ in range(qd):
            i = skip_name(m, i) + 4
        out = m[:i]
        kept = 0
        for _ in range(an):
            start = i
            i = skip_name(m, i)
            rtype, _, _, rdlen = struct.unpack("!HHIH", m[i:i + 10])
            i += 10 + rdlen
            if rtype != 46:
                out += m[start:i]
                kept += 1
        ns, ar = struct.unpack("!HH", m[8:12])
        opt = b""
        nopt = 0
        for n in range(ns + ar):
            start = i
            i = skip_name(m, i)
            rtype, _, _, rdlen = struct.unpack("!HHIH", m[i:i + 10])
            i += 10 + rdlen
            if n >= ns and rtype == 41:
                opt += m[start:i]   # EDNS (with DO) is kept, as middleboxes do
                nopt += 1
        flags = struct.unpack("!H", m[2:4])[0] | 0x0020
        return m[:2] + struct.pack("!HHHHH", flags, qd, kept, 0, nopt) + out[12:] + opt

    while True:
        q, client = s.recvfrom(4096)
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(2)
            u.sendto(q, (upstream, 53))
            r, _ = u.recvfrom(65535)
            u.close()
            s.sendto(strip(r), client)
        except Exception as e:
            print("error:", e, flush=True)
    """#

    /// Keys, the signed zone (with broken.sec.test's signature corrupted), the authority, the
    /// validator and the stripper.
    func startDNSSEC() throws {
        guard let python = tools.python3 else { throw ProbeLabTools.skip("python3 is needed for the stripping forwarder") }
        let suite = "ProbeIntegrationTests"
        let found = try Requirements.requireTools(suite, [("ldns-keygen", "ldnsutils"), ("ldns-signzone", "ldnsutils")])
        for a in [Self.authority, Self.validator, Self.stripper] { try addAddress("\(a)/32", dev: "lo", in: servicesNS) }
        let zdir = file("zone")
        try FileManager.default.createDirectory(at: zdir, withIntermediateDirectories: true)
        func run(_ argv: [String]) throws -> String {
            // ldns writes its keys into the working directory.
            let r = try runBounded("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", zdir.path] + argv, timeout: 60)
            guard r.status == 0 else { throw LabError("\(argv.joined(separator: " ")) failed: \(r.output)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let ksk = try run([found["ldns-keygen"]!, "-a", "ECDSAP256SHA256", "-k", Self.signedZone])
        let zsk = try run([found["ldns-keygen"]!, "-a", "ECDSAP256SHA256", Self.signedZone])
        let zone = zdir.appendingPathComponent("\(Self.signedZone).zone")
        try """
        $ORIGIN \(Self.signedZone).
        $TTL 300
        @ IN SOA ns.\(Self.signedZone). admin.\(Self.signedZone). 1 3600 600 86400 300
        @ IN NS ns.\(Self.signedZone).
        ns IN A \(Self.authority)
        www IN A 198.18.160.10
        broken IN A 198.18.160.11

        """.write(to: zone, atomically: true, encoding: .utf8)
        _ = try run([found["ldns-signzone"]!, zone.path, ksk, zsk])
        let signed = URL(fileURLWithPath: zone.path + ".signed")
        // Corrupt broken.sec.test's A signature: one base64 character of the signature changed.
        var lines = try String(contentsOf: signed, encoding: .utf8).components(separatedBy: "\n")
        guard let i = lines.firstIndex(where: { $0.hasPrefix("\(Self.brokenName).") && $0.contains("RRSIG\tA ") }) else {
            throw LabError("no RRSIG for \(Self.brokenName) A in the signed zone")
        }
        // The signature is the record's last (space-separated) field.
        var fields = lines[i].components(separatedBy: " ")
        var sig = Array(fields[fields.count - 1])
        sig[10] = sig[10] == "A" ? "B" : "A"
        fields[fields.count - 1] = String(sig)
        lines[i] = fields.joined(separator: " ")
        try lines.joined(separator: "\n").write(to: signed, atomically: true, encoding: .utf8)
        let kskKey = zdir.appendingPathComponent("\(ksk).key")

        let authConf = try UnboundConfig(server: [
            "local-zone: \"test.\" nodefault", "interface: \(Self.authority)@53", "module-config: \"iterator\"",
        ], clauses: [["auth-zone:", "name: \"\(Self.signedZone)\"", "zonefile: \"\(signed.path)\"", "for-downstream: yes", "for-upstream: no"]]
        ).write("unbound-authority.conf", in: self)
        let valConf = try UnboundConfig(server: [
            "local-zone: \"test.\" nodefault", "interface: \(Self.validator)@53", "outgoing-interface: \(Self.validator)",
            "module-config: \"validator iterator\"", "trust-anchor-file: \"\(kskKey.path)\"", "val-log-level: 2",
        ], clauses: [["stub-zone:", "name: \"\(Self.signedZone)\"", "stub-addr: \(Self.authority)@53"]]
        ).write("unbound-validator.conf", in: self)
        let auth = try spawn(servicesNS, name: "unbound-authority", [tools.unbound, "-d", "-c", authConf.path])
        let val = try spawn(servicesNS, name: "unbound-validator", [tools.unbound, "-d", "-c", valConf.path])
        let script = file("stripper.py")
        try Self.stripperScript.write(to: script, atomically: true, encoding: .utf8)
        let stripper = try spawn(servicesNS, name: "stripper", [python, "-u", script.path, Self.stripper, Self.authority])
        try waitListening(servicesNS, auth, ["\(Self.authority):53"], ss: tools.ss)
        try waitListening(servicesNS, val, ["\(Self.validator):53"], ss: tools.ss)
        guard waitUntil(timeout: 10, { !stripper.isRunning || stripper.output.contains("listening") }), stripper.isRunning else {
            throw LabError("stripper did not start: \(stripper.output)")
        }
    }

    /// `dnsaudit probe` with the DNSSEC checks on the lab's signed and broken names, the validator as the only reference.
    func probeDNSSEC(resolver: String) throws -> ProbeReport {
        let args = ["probe", "--resolver", resolver, "--reference", "udp://\(Self.validator)",
                    "--check-name", Self.signedName, "--canary-zone", Self.signedZone, "--no-identity",
                    "--dnssec-name", Self.signedName, "--dnssec-broken-name", Self.brokenName,
                    "--format", "json", "--timeout", "2"]
        return try runDNSAudit(args, in: clientNS, timeout: 90)
    }
}
