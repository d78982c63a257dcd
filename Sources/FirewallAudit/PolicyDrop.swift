import Findings
import FirewallModel
import NetTypes

/// `firewall.encrypted-dns-block` by omission: a forward/output base chain whose policy is drop,
/// that accepts plain DNS (53) but no DNS-over-TLS (tcp 853) and/or no HTTPS to the known
/// resolver addresses (DoH) — "switch encrypted DNS off, leave plain DNS on". A chain that lets
/// no plain DNS through (a locked-down server) is not this pattern.
extension FirewallAuditor {
    /// One accept path of a chain: the traffic it lets through and the rule that does it.
    struct AcceptPath {
        var selector: TrafficSelector
        var rule: FirewallRule
        var position: Int
    }

    static let policyHooks: Set<String> = ["forward", "output"]

    /// A final unconditional drop/reject rule of a base chain.
    struct CatchAll {
        var rule: FirewallRule
        var position: Int
        /// `drop` or `reject`.
        var verdict: String
    }

    static func dropVerdict(_ rule: FirewallRule) -> String? {
        for e in rule.expressions {
            switch e {
            case .verdict(.drop), .xt(type: "target", "DROP"): return "drop"
            case .verdict(.reject), .xt(type: "target", "REJECT"): return "reject"
            default: continue
            }
        }
        return nil
    }

    func policyDropFindings(input: String, ruleset rs: Ruleset, reached: [ReachableRule], positions: [Int: Int]) -> [Finding] {
        var out: [Finding] = []
        // Reached rules by the base chain they were entered from (one pass, however many chains).
        var byBase: [String: [ReachableRule]] = [:]
        for rr in reached where Self.policyHooks.contains(rr.base.hook ?? "") {
            byBase[ReachabilityWalker.key(rr.base.family, rr.base.table, rr.base.name), default: []].append(rr)
        }
        for chain in rs.chains where chain.isBase && Self.policyHooks.contains(chain.hook ?? "") && (chain.type ?? "filter") == "filter" {
            let mine = byBase[ReachabilityWalker.key(chain.family, chain.table, chain.name)] ?? []
            // The drop that applies to whatever no rule accepted: the chain's policy, or a final
            // catch-all drop/reject in the base chain itself (`-A FORWARD -j REJECT`), after which
            // the policy is never reached.
            var catchAll: CatchAll?
            if let last = mine.last(where: { $0.via.isEmpty && $0.rule.chain == chain.name }), ReachabilityWalker.endsChain(last.rule),
               let verdict = Self.dropVerdict(last.rule) {
                catchAll = CatchAll(rule: last.rule, position: positions[last.index] ?? 1, verdict: verdict)
            }
            guard chain.policy?.lowercased() == "drop" || catchAll != nil else { continue }
            let accepts = mine.flatMap { Self.acceptPaths($0, position: positions[$0.index] ?? 1, ruleset: rs) }
                .filter { $0.selector.allowsNewConnections && !Self.onlyLoopback($0.selector) }
            if let f = policyDropFinding(input: input, chain: chain, accepts: accepts, rules: mine.map(\.rule), catchAll: catchAll) { out.append(f) }
        }
        return out
    }

    /// Accept verdicts of a reachable rule: the rule's own `accept`, and `accept` entries of a verdict map.
    static func acceptPaths(_ rr: ReachableRule, position: Int, ruleset rs: Ruleset) -> [AcceptPath] {
        let sets: (String) -> FirewallSet? = { rs.set(family: rr.rule.family, table: rr.rule.table, name: $0) }
        let matches = rr.rule.expressions.filter { if case .match = $0 { return true } else { return false } }
        var out: [AcceptPath] = []
        for e in rr.rule.expressions {
            switch e {
            case .verdict(.accept), .xt(type: "target", "ACCEPT"):
                out.append(AcceptPath(selector: TrafficSelector(rr.inherited + rr.rule.expressions, sets: sets), rule: rr.rule, position: position))
            case .vmap(let key, let data):
                var elements: [NftValue] = []
                if let name = data.setReference { elements = sets(name)?.elements ?? [] } else if case .set(let items) = data { elements = items }
                for case .mapping(let k, .verdict(.accept)) in elements {
                    out.append(AcceptPath(selector: TrafficSelector(rr.inherited + matches + [.match(left: key, op: "==", right: k)], sets: sets),
                                          rule: rr.rule, position: position))
                }
            default:
                continue
            }
        }
        return out
    }

    /// Traffic that stays on this machine (`oifname "lo"`, loopback destinations) reaches no resolver elsewhere.
    static func onlyLoopback(_ sel: TrafficSelector) -> Bool {
        if let outs = sel.outInterfaces, !outs.isEmpty, outs.allSatisfy({ $0 == "lo" }) { return true }
        if let ins = sel.inInterfaces, !ins.isEmpty, ins.allSatisfy({ $0 == "lo" }) { return true }
        if let d = sel.destinations, !d.isEmpty, d.allSatisfy(\.isLoopback) { return true }
        return false
    }

    /// The address families a selector's address matches tie it to (nil = both).
    static func family(of sel: TrafficSelector) -> Bool? {
        if sel.nfproto == "ipv4" { return false }
        if sel.nfproto == "ipv6" { return true }
        let ranges = (sel.destinations ?? []) + sel.excludedDestinations
        guard let first = ranges.first else { return nil }
        return ranges.allSatisfy { $0.isV6 == first.isV6 } ? first.isV6 : nil
    }

    /// Whether `sel` lets a new connection over `proto` to `port` at `address` (nil = any address) through.
    static func lets(_ sel: TrafficSelector, proto: String, port: Int, to address: AddressRange?) -> Bool {
        guard sel.allows(protocol: proto), sel.destinationPorts.contains(port) else { return false }
        guard let a = address else { return true }
        if let v6 = family(of: sel), v6 != a.isV6 { return false }
        if let d = sel.destinations, !d.contains(where: { $0.overlaps(a) }) { return false }
        if sel.excludedDestinations.contains(where: { $0.isV6 == a.isV6 && $0.low <= a.low && a.high <= $0.high }) { return false }
        return true
    }

    func policyDropFinding(input: String, chain: FirewallChain, accepts: [AcceptPath], rules: [FirewallRule], catchAll: CatchAll?) -> Finding? {
        let hook = chain.hook ?? ""
        // Plain DNS must pass (to somewhere other than this machine): otherwise this is a locked-down chain.
        let plain = accepts.filter { a in
            (Self.lets(a.selector, proto: "udp", port: 53, to: nil) || Self.lets(a.selector, proto: "tcp", port: 53, to: nil))
        }
        guard let plainRule = plain.first else { return nil }
        let dotOpen = accepts.contains { Self.lets($0.selector, proto: "tcp", port: Self.dotPort, to: nil) }
        // DoH: HTTPS to the known resolvers of this chain's family.
        // This machine's / the capture's resolvers first: they are the ones its clients use.
        var known: [(range: AddressRange, source: String)] = extraResolvers.map { ($0.range, $0.source) }
            + resolvers.map { ($0, "public resolver list") }
        if chain.family == "ip" { known = known.filter { !$0.range.isV6 } }
        if chain.family == "ip6" { known = known.filter { $0.range.isV6 } }
        let dohBlocked = known.filter { r in !accepts.contains { Self.lets($0.selector, proto: "tcp", port: Self.tlsPort, to: r.range) } }
        // Some known resolvers' HTTPS falls to the policy (an accept of 443 that leaves them out, or none at all).
        let dohAllBlocked = !dohBlocked.isEmpty
        // HTTPS accepted to everything except (some of) the resolvers: DoH singled out. HTTPS that
        // is only accepted to a few addresses (a proxy, an update mirror) restricts all web
        // traffic; with DoT open that is no block of encrypted DNS.
        let dohTargeted = accepts.contains { a in
            a.selector.destinations == nil && Self.lets(a.selector, proto: "tcp", port: Self.tlsPort, to: nil)
                && a.selector.excludedDestinations.contains { e in dohBlocked.contains { e.overlaps($0.range) } }
        }
        guard !dotOpen || dohTargeted else { return nil }

        let origin = rules.first?.origin ?? .nft
        let name = "\(chain.family) \(chain.table) \(chain.name)"
        let names = dohBlocked.prefix(3).map(\.range.text).joined(separator: ", ") + (dohBlocked.count > 3 ? " and \(dohBlocked.count - 3) more" : "")
        var blocked: [String] = []
        if !dotOpen { blocked.append("DNS-over-TLS (tcp 853)") }
        if dohAllBlocked { blocked.append("DoH (tcp 443) to \(dohBlocked.count == known.count ? "the" : "\(dohBlocked.count) of the \(known.count)") known resolvers (\(names))") }
        let both = !dotOpen && dohAllBlocked
        var severity: Severity = both ? .medium : .low
        var confidence: Confidence = both ? .likely : .possible
        let plainText = ["udp", "tcp"].filter { Self.lets(plainRule.selector, proto: $0, port: 53, to: nil) }.joined(separator: "+") + " 53"
        let catchAllText = catchAll.map { Self.ruleName($0.rule, position: $0.position) + ": `\(RuleFormatter.text($0.rule))`" }
        let dropText = catchAll.map { "ends in a catch-all \($0.verdict) (`\(RuleFormatter.text($0.rule))`)" } ?? "has policy drop"
        var title = "Chain \(name) (hook \(hook)) \(dropText) and accepts plain DNS (\(plainText)) but not "
            + blocked.joined(separator: " nor ") + ": traffic \(Self.hookPhrase(hook)) loses encrypted DNS to the \(catchAll == nil ? "policy" : "catch-all rule") while plaintext DNS passes"
        if !both {
            title += dotOpen ? " (DoT is accepted)" : " (HTTPS to resolvers is accepted, so DoH still works)"
        }

        // The accept rules to add, in the chain's own front end.
        var adds: [String] = []
        let addrs = dohBlocked.prefix(8).map(\.range)
        if origin == .nft {
            // Before the catch-all rule when there is one (`insert … handle N` puts the rule before N).
            var base = "nft add rule \(chain.family) \(chain.table) \(RuleContext.quoted(chain.name))"
            if let c = catchAll {
                base = "nft insert rule \(chain.family) \(chain.table) \(RuleContext.quoted(chain.name))" + (c.rule.handle.map { " handle \($0)" } ?? "")
            }
            if !dotOpen { adds.append("\(base) tcp dport 853 accept") }
            if dohAllBlocked {
                for v6 in [false, true] {
                    let a = addrs.filter { $0.isV6 == v6 }
                    guard !a.isEmpty, chain.family == "inet" || (chain.family == "ip6") == v6 else { continue }
                    adds.append("\(base) \(v6 ? "ip6" : "ip") daddr { \(a.map(\.text).joined(separator: ", ")) } tcp dport 443 accept")
                }
            }
        } else {
            let tool = (chain.family == "ip6" ? "ip6tables" : "iptables") + (origin == .iptablesLegacy ? "-legacy" : "-nft")
            let base = "\(tool) -t \(chain.table) " + (catchAll.map { "-I \(RuleContext.quoted(chain.name)) \($0.position)" } ?? "-A \(RuleContext.quoted(chain.name))")
            if !dotOpen { adds.append("\(base) -p tcp --dport 853 -j ACCEPT") }
            if dohAllBlocked, !addrs.isEmpty {
                adds.append("\(base) -d \(addrs.map(\.text).joined(separator: ",")) -p tcp --dport 443 -j ACCEPT")
            }
        }
        var remediation = "If clients here are meant to use encrypted DNS, add an accept rule so it does not fall to the \(catchAll == nil ? "policy" : "catch-all rule"): "
            + adds.joined(separator: "; ")
            + ". If blocking it is deliberate (an enterprise that runs its own resolvers), set approve_encrypted_dns_blocks = true under [firewall] in the policy file."
        if policy.approveEncryptedDNSBlocks {
            severity = .info
            confidence = .likely
            title = "Approved by policy (encrypted-DNS blocks allowed): " + title
            remediation = "Approved by the policy\(policy.source.map { " (\($0))" } ?? ""); nothing to do."
        }

        let who = origin == .nft ? "nft" : origin.rawValue
        var head = "type \(chain.type ?? "filter") hook \(hook)"
        if let p = chain.priority { head += " priority \(p)" }
        head += "; policy \(chain.policy ?? "accept")"
        let plainName = Self.ruleName(plainRule.rule, position: plainRule.position) + ": `\(RuleFormatter.text(plainRule.rule))`"
        var facts: [(String, SubjectValue)] = [
            ("chain", .string(name)), ("policy", .string(catchAll == nil ? "drop" : (chain.policy ?? "accept"))),
            ("statement", .string(catchAll.map { "catch-all \($0.verdict)" } ?? "policy drop")),
            ("plain_dns_accepted_by", .string(plainName)),
            ("blocked", .string(blocked.joined(separator: "; "))),
        ]
        if dohAllBlocked {
            facts.append(("resolvers", .string(dohBlocked.map(\.range.text).joined(separator: ","))))
            var sources: [String] = []
            for r in dohBlocked where !sources.contains(r.source) { sources.append(r.source) }
            facts.append(("resolver_source", .string(sources.joined(separator: "; "))))
        }
        let https = accepts.filter { Self.lets($0.selector, proto: "tcp", port: Self.tlsPort, to: nil) }
        if !https.isEmpty {
            facts.append(("https_accepted_by", .string(https.prefix(3).map { Self.ruleName($0.rule, position: $0.position) + ": `\(RuleFormatter.text($0.rule))`" }.joined(separator: "; "))))
        }
        if let catchAllText { facts.append(("catch_all_rule", .string(catchAllText))) }
        facts.append(("add_command", .string(adds.joined(separator: "; "))))
        let detail = "\(who) base chain \(name) (\(head)): \(accepts.count) accept rule(s) for new connections; plain DNS passes through \(plainName); "
            + blocked.joined(separator: " and ") + " match(es) no accept rule and fall(s) to "
            + (catchAllText.map { "the catch-all \($0)" } ?? "the drop policy")
        let target = !dotOpen ? ":853" : {
            let a = dohBlocked[0].range.text
            return (a.contains(":") ? "[\(a)]" : a) + ":443"
        }()
        let subject: [(String, SubjectValue)] = [
            ("family", .string(chain.family)), ("table", .string(chain.table)), ("chain", .string(chain.name)), ("hook", .string(hook)),
            ("target", .string(target)), ("origin", .string(origin.rawValue)), ("reason", .string("chain-policy")),
        ]
        return Finding(kind: FindingKind.firewallEncryptedDNSBlock, severity: severity, confidence: confidence, title: title,
                       subject: subject, evidence: [Evidence(source: .ruleset, input: input, detail: detail, facts: facts)],
                       remediation: remediation)
    }
}
