import DNSWire
import ResolverClients

/// Who a resolver says it is: CHAOS `id.server`, `hostname.bind`, `version.bind` and the EDNS
/// NSID option (RFC 5001), as ANCHORS.md lists them.
public struct ResolverIdentity: Sendable, Equatable {
    /// Question → answer text ("" when the resolver refused or had none).
    public var answers: [String: String] = [:]
    /// Why nothing came back at all (the resolver did not answer).
    public var failure: String?

    public static let chaosNames = ["id.server", "hostname.bind", "version.bind"]

    public var isEmpty: Bool { answers.values.allSatisfy(\.isEmpty) }

    public var summary: String {
        if let failure { return "no answer (\(failure))" }
        let parts = (Self.chaosNames + ["nsid"]).compactMap { k -> String? in
            guard let v = answers[k], !v.isEmpty else { return nil }
            return "\(k)=\"\(v)\""
        }
        return parts.isEmpty ? "no identity given" : parts.joined(separator: " ")
    }

    /// Known resolver software named in a `version.bind` answer.
    public var software: String? {
        guard let v = answers["version.bind"]?.lowercased(), !v.isEmpty else { return nil }
        for s in ["dnsmasq", "unbound", "bind", "powerdns", "knot", "coredns", "pi-hole", "adguard", "technitium", "windows"] where v.contains(s) {
            return s
        }
        return nil
    }

    /// Asks `client` every identity question (in parallel).
    public static func ask(_ client: ResolverClient, checkName: String) async -> ResolverIdentity {
        var id = ResolverIdentity()
        let results = await withTaskGroup(of: (String, Result<String, ResolverError>).self) { group in
            for name in chaosNames {
                group.addTask {
                    do {
                        let m = try await client.query(name, type: DNSType.txt, qclass: DNSClass.ch, recursionDesired: false)
                        return (name, .success(txt(m)))
                    } catch {
                        return (name, .failure(ResolverError.classify(error)))
                    }
                }
            }
            group.addTask {
                do {
                    let m = try await client.query(checkName, type: DNSType.a, requestNSID: true)
                    return ("nsid", .success(nsid(m)))
                } catch {
                    return ("nsid", .failure(ResolverError.classify(error)))
                }
            }
            var out: [(String, Result<String, ResolverError>)] = []
            for await r in group { out.append(r) }
            return out
        }
        var failures: [String] = []
        for (k, r) in results {
            switch r {
            case .success(let v): id.answers[k] = v
            case .failure(let e): failures.append(e.description)
            }
        }
        if id.answers.isEmpty { id.failure = failures.first ?? "no answer" }
        return id
    }

    static func txt(_ m: DNSMessage) -> String {
        guard m.rcode == 0 else { return "" }
        for rr in m.answers {
            if case .txt(let strings) = rr.rdata {
                return strings.map { String(decoding: $0, as: UTF8.self) }.joined()
            }
        }
        return ""
    }

    static func nsid(_ m: DNSMessage) -> String {
        for o in m.edns?.options ?? [] {
            if case .nsid(let bytes) = o, !bytes.isEmpty {
                let printable = bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
                return printable ? String(decoding: bytes, as: UTF8.self) : bytes.map { String(format2($0)) }.joined()
            }
        }
        return ""
    }

    static func format2(_ b: UInt8) -> String {
        let h = String(b, radix: 16)
        return h.count == 1 ? "0" + h : h
    }

    /// Questions both identities answered (non-empty) with different text.
    public func differences(from other: ResolverIdentity) -> [(question: String, mine: String, theirs: String)] {
        var out: [(String, String, String)] = []
        for k in Self.chaosNames + ["nsid"] {
            guard let a = answers[k], let b = other.answers[k], !a.isEmpty, !b.isEmpty, a != b else { continue }
            out.append((k, a, b))
        }
        return out
    }
}
