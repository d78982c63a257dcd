import FindingPolicy
import Findings
import NetTypes
import ResolverClients

extension ProbeRunner {
    /// The ladder's route rung (issue 20 item 8), between DNS and TCP: when the ladder saw a forged
    /// answer (Hold-On), a reset, close or silence after the ClientHello, or a SYN left unanswered,
    /// the offending packet is repeated with TTL 1…`hopLimit` to name the hop that tampers (with
    /// `routeAlways`, the DNS query and the ClientHello / SYN are walked anyway: a clean control).
    /// A dns.injection finding for the name gets the hop's evidence here; the TCP/TLS findings get
    /// it in `LadderVerdict`.
    func routeRung(_ r: inout LadderResult, resolver: ResolverEndpoint?, injected: Bool, into out: inout ProbeResults) async {
        guard config.hopLimit > 0 else { return }
        let options = HopLocatorOptions(maxTTL: config.hopLimit, wait: config.hopWait)
        let t = r.target
        var walks: [HopWalk] = []
        if injected || config.routeAlways, let e = resolver, e.transport == .udp, IPAddress.isLiteral(e.host), !IPAddress.isLiteral(t.host) {
            walks.append(await HopLocator.dnsQuery(server: e.host, port: UInt16(clamping: e.port), name: t.host, options: options))
        }
        let failed = r.connections.first { !$0.fromReference && $0.outcome.firstFailure != nil }
        let first = failed ?? r.connections.first { !$0.fromReference }
        if let c = first, let port = UInt16(exactly: t.port) {
            let hello = t.tls && !IPAddress.isLiteral(t.host)
            switch (c.outcome.firstFailure?.layer, c.outcome.firstFailure?.error) {
            case (.tls?, .connectionReset?), (.tls?, .timeout?), (.tls?, .closed?):
                if hello { walks.append(await HopLocator.clientHello(address: c.address, port: port, serverName: t.host, options: options)) }
            case (.tcp?, .timeout?):
                walks.append(await HopLocator.tcpSyn(address: c.address, port: port, options: options))
            case (nil, _) where config.routeAlways:
                walks.append(hello ? await HopLocator.clientHello(address: c.address, port: port, serverName: t.host, options: options)
                                   : await HopLocator.tcpSyn(address: c.address, port: port, options: options))
            default: break
            }
        }
        var at = r.steps.lastIndex { $0.layer == "dns" }.map { $0 + 1 } ?? 0
        for walk in walks {
            r.routes.append(walk)
            r.steps.insert(LadderStep(layer: "route", ok: walk.located == nil, detail: "\(walk.probe.rawValue): \(walk.summary)",
                                      address: walk.destination), at: at)
            at += 1
            out.inputs.append(ReportInput(kind: "probe", name: "route to \(walk.destination) (\(walk.probe.rawValue))",
                                          facts: walk.skipped.map { [("skipped", .string($0))] }
                                              ?? walk.observations.map { ("ttl\($0.ttl)", .string($0.text)) }))
            if let l = walk.located, l.probe == .dnsQuery {
                out.findings = out.findings.map { f in
                    guard f.kind == FindingKind.dnsInjection, f.subjectValue("qname")?.description == t.host else { return f }
                    return FindingPolicy.withHop(f, l)
                }
            }
        }
    }
}
