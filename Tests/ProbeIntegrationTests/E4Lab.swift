import Foundation
import IntegrationSupport
import XCTest

/// Engineer E4's two-namespace lab for issue 20 item 6 on the probe side: whether rebinding
/// protection can explain an empty answer, given the resolver's other answers of the same run.
/// A client and a services namespace joined by one veth (client 198.19.44.1/30 — services
/// 198.19.44.2/30); the services namespace carries on its loopback:
///   198.19.45.1, 198.19.45.2  one unbound: the two references (plain DNS, `udp://`), serving e4.test:
///                             lan.e4.test A 192.168.7.7, nas.e4.test A 10.7.7.7, www.e4.test A 198.19.50.10
///   198.19.46.53              dnsmasq --stop-dns-rebind forwarding e4.test to the references: it drops
///                             both private answers (rebinding protection)
///   198.19.47.53              dnsmasq without it, forwarding e4.test, but answering nas.e4.test
///                             NXDOMAIN itself (--address=/nas.e4.test/): it passes 192.168.7.7 and
///                             refuses 10.7.7.7 — a block, not a rebinding filter
/// Namespaces `e4-<pid>-<tag>-c|s`, interfaces `e4c|e4s<pid><tag>`. No default route; the
/// references refuse everything outside e4.test, the dnsmasqs forward nothing else.
final class E4Lab: ClientServicesLab {
    static let clientAddress = "198.19.44.1"
    static let servicesAddress = "198.19.44.2"
    static let references = ["198.19.45.1", "198.19.45.2"]
    static let rebindProtected = "198.19.46.53"
    static let selectiveBlocker = "198.19.47.53"
    static let zone = "e4.test"
    static let checkName = "www.e4.test"
    static let checkAddress = "198.19.50.10"
    static let privateNames = ["lan.e4.test": "192.168.7.7", "nas.e4.test": "10.7.7.7"]
    static let blockedName = "nas.e4.test"
    static let passedName = "lan.e4.test"

    let tools: ProbeLabTools
    let dig: String

    init(tools: ProbeLabTools, tag: String) throws {
        guard let dig = ["/usr/bin/dig", "/bin/dig"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ProbeLabTools.skip("dig (bind9-dnsutils) is needed for the lab's truth: apt-get install bind9-dnsutils")
        }
        self.tools = tools
        self.dig = dig
        try super.init(ip: tools.ip, prefix: "e4", tag: tag, label: "e4 lab")
    }

    func build() throws {
        try buildNamespaces(client: Self.clientAddress, services: Self.servicesAddress,
                            serviceAddresses: Self.references + [Self.rebindProtected, Self.selectiveBlocker], skipSuite: "ProbeIntegrationTests")
        var refServer = Self.references.map { "interface: \($0)@53" }
        refServer.append("module-config: \"iterator\"")
        refServer += UnboundConfig.onlyZone(Self.zone, records: ["\(Self.checkName). 300 IN A \(Self.checkAddress)"]
            + Self.privateNames.sorted { $0.key < $1.key }.map { "\($0.key). 300 IN A \($0.value)" })
        let refConf = try UnboundConfig(server: refServer).write("unbound-references.conf", in: self)
        let refs = try spawn(servicesNS, name: "unbound-references", [tools.unbound, "-d", "-c", refConf.path])
        func dnsmasq(_ name: String, _ address: String, _ extra: [String]) throws -> SpawnedProcess {
            try spawn(servicesNS, name: name, [
                tools.dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
                "--bind-interfaces", "--listen-address=\(address)", "--port=53", "--pid-file", "--user=root",
                "--log-facility=-", "--log-queries", "--server=/\(Self.zone)/\(Self.references[0])",
            ] + extra)
        }
        let protected = try dnsmasq("dnsmasq-rebind", Self.rebindProtected, ["--stop-dns-rebind"])
        let selective = try dnsmasq("dnsmasq-selective", Self.selectiveBlocker, ["--address=/\(Self.blockedName)/"])
        try waitListening(servicesNS, refs, Self.references.map { "\($0):53" }, ss: tools.ss)
        try waitListening(servicesNS, protected, ["\(Self.rebindProtected):53"], ss: tools.ss)
        try waitListening(servicesNS, selective, ["\(Self.selectiveBlocker):53"], ss: tools.ss)
    }

    /// `dig +short @server name A` from the client namespace: the lab's truth, independent of dnsaudit.
    func dig(_ server: String, _ name: String) throws -> String {
        try mustExec(clientNS, [dig, "+short", "+time=2", "+tries=1", "@\(server)", name, "A"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The rcode dig reports (`NOERROR`, `NXDOMAIN`…).
    func digStatus(_ server: String, _ name: String) throws -> String {
        let r = try mustExec(clientNS, [dig, "+time=2", "+tries=1", "@\(server)", name, "A"])
        guard let line = r.stdout.split(separator: "\n").first(where: { $0.contains("status:") }),
              let s = line.split(separator: " ").drop(while: { $0 != "status:" }).dropFirst().first else { return "?" }
        return s.trimmingCharacters(in: CharacterSet(charactersIn: ", "))
    }

    /// `dnsaudit probe` in the client namespace against `resolver`, with the lab's two references
    /// only, the rebinding names given in `names`.
    func probe(resolver: String, rebindingNames names: [String]) throws -> ProbeReport {
        let args = ["probe", "--resolver", resolver]
            + Self.references.flatMap { ["--reference", "udp://\($0)"] }
            + ["--check-name", Self.checkName, "--canary-zone", Self.zone, "--no-dnssec", "--no-identity",
               "--format", "json", "--timeout", "2"] + names.flatMap { ["--rebinding-name", $0] }
        let r = try exec(clientNS, [PackagePaths.dnsaudit.path] + args, timeout: 90)
        let shown = args.joined(separator: " ")
        guard !r.timedOut else { throw LabError("dnsaudit \(shown) did not finish") }
        guard r.status == 0 || r.status == 1 else { throw LabError("dnsaudit \(shown) exited \(r.status): \(r.stderr.prefix(1000))") }
        guard let o = (try? JSONSerialization.jsonObject(with: r.stdoutData)) as? [String: Any] else {
            throw LabError("dnsaudit \(shown): no JSON report: \(r.stdout.prefix(800)) \(r.stderr.prefix(500))")
        }
        return ProbeReport(status: r.status, stderr: r.stderr, raw: r.stdout, report: o)
    }
}
