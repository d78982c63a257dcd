import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The two-namespace layout of the probe labs: a client namespace `<prefix>-<pid>-<tag>-c` and a
/// services namespace `<prefix>-<pid>-<tag>-s` joined by one veth (`<prefix>c<pid><tag>` —
/// `<prefix>s<pid><tag>`), the services' addresses on the services namespace's loopback, and the
/// client routed to the lab range through the services side. Neither namespace has a default
/// route (checked: the network rule).
open class ClientServicesLab: NamespaceLab {
    public let clientNS: String, servicesNS: String
    public let clientIf: String, servicesIf: String
    public let tag: String

    /// `prefix` names the namespaces, interfaces and scratch directory (keep it short: interface
    /// names have 15 bytes at most); `label` names the lab in messages.
    public init(ip: String, prefix: String, tag: String, label: String) throws {
        self.tag = tag
        let pid = getpid()
        clientNS = "\(prefix)-\(pid)-\(tag)-c"
        servicesNS = "\(prefix)-\(pid)-\(tag)-s"
        clientIf = "\(prefix)c\(pid)\(tag)"
        servicesIf = "\(prefix)s\(pid)\(tag)"
        try super.init(ip: ip, label: label, dirPrefix: "\(prefix)-\(pid)-\(tag)")
    }

    /// Both namespaces (skipping `skipSuite` when namespaces cannot be made), the link (client
    /// `client`/30 — services `services`/30), each of `serviceAddresses` as a /32 on the services
    /// loopback, the route to `labRange` via the services side; then the no-default-route check.
    public func buildNamespaces(client: String, services: String, serviceAddresses: [String],
                                skipSuite: String, labRange: String = "198.18.0.0/15") throws {
        for ns in [clientNS, servicesNS] { try addNamespace(ns, skipSuite: skipSuite) }
        try addLink(clientIf, in: clientNS, address: "\(client)/30", peer: servicesIf, in: servicesNS, peerAddress: "\(services)/30")
        for a in serviceAddresses { try addAddress("\(a)/32", dev: "lo", in: servicesNS) }
        try addRoute(labRange, via: services, in: clientNS)
        for ns in [clientNS, servicesNS] {
            let routes = try mustExec(ns, [ip, "-4", "route", "show", "default"]).stdout
            guard routes.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw LabError("namespace \(ns) has a default route: \(routes)") }
        }
    }
}
