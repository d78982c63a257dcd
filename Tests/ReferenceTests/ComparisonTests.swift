import AnswerComparison
import DNSObservations
import DNSWire
import Probes
import ResolverClients
import NetTypes
import SystemResolverReader
import XCTest

/// The comparison engine (OONI / Iris rules), endpoint and target parsing, resolv.conf.
final class ComparisonTests: XCTestCase {
    func set(_ rcode: UInt16, _ addrs: [String], cnames: [String] = []) -> AnswerSet {
        AnswerSet(rcode: rcode, addresses: addrs, cnames: cnames)
    }

    func set(_ addrs: [String], cnames: [String] = []) -> AnswerSet {
        AnswerSet(rcode: 0, addresses: addrs, cnames: cnames)
    }

    func testConsistentCases() {
        let cases: [(AnswerSet, [AnswerSet?], String)] = [
            (set(["93.184.216.34"]), [set(["93.184.216.34", "93.184.216.35"]), set(["93.184.216.34"])], "overlap"),
            (set(3, []), [set(3, []), set(3, [])], "both-nxdomain"),
            (set(["151.101.1.69"]), [set(["151.101.65.69"]), set(["151.101.1.70"])], "same-prefix"),
            (set(["104.16.1.1"], cnames: ["x.cdn.example."]), [set(["172.64.1.1"], cnames: ["x.cdn.example."])], "cname-match"),
            (set([]), [set([]), set([])], "both-empty"),
        ]
        for (path, refs, reason) in cases {
            let r = AnswerComparator.compare(path: path, references: refs)
            XCTAssertEqual(r.verdict, .consistent, reason)
            XCTAssertEqual(r.reason, reason)
        }
    }

    func testInconsistentCases() {
        let cases: [(AnswerSet, [AnswerSet?], String, AnswerComparisonResult.Certainty)] = [
            (set(["0.0.0.0"]), [set(["93.184.216.34"]), set(["93.184.216.34"])], "bogon", .likely),
            (set(["10.10.34.35"]), [set(["93.184.216.34"])], "bogon", .possible),
            (set(["93.184.216.34"]), [set(3, []), set(3, [])], "nxdomain-rewrite", .likely),
            (set(3, []), [set(["93.184.216.34"]), set(["93.184.216.34"])], "blocked-nxdomain", .likely),
            (set(2, []), [set(["93.184.216.34"])], "blocked-servfail", .possible),
            (set(["8.8.4.4"]), [set(["93.184.216.34"]), set(["93.184.216.34"])], "no-overlap", .likely),
        ]
        for (path, refs, reason, certainty) in cases {
            let r = AnswerComparator.compare(path: path, references: refs)
            XCTAssertEqual(r.verdict, .inconsistent, reason)
            XCTAssertEqual(r.reason, reason)
            XCTAssertEqual(r.certainty, certainty, reason)
        }
    }

    func testReferencesThatDisagreeOrFailAreNotAccusations() {
        // Geo-distributed: the references disagree with each other.
        var r = AnswerComparator.compare(path: set(["8.8.4.4"]), references: [set(["93.184.216.34"]), set(["23.1.2.3"])])
        XCTAssertEqual(r.verdict, .referencesDisagree)
        // No reference answered.
        r = AnswerComparator.compare(path: set(["8.8.4.4"]), references: [nil, nil])
        XCTAssertEqual(r.verdict, .noReference)
        // References SERVFAIL: no opinion.
        r = AnswerComparator.compare(path: set(["8.8.4.4"]), references: [set(2, [])])
        XCTAssertEqual(r.verdict, .noReference)
        // Split horizon: the references say NXDOMAIN, the path has a private address.
        r = AnswerComparator.compare(path: set(["10.1.2.3"]), references: [set(3, []), set(3, [])])
        XCTAssertEqual(r.verdict, .consistent)
    }

    func testFindingsFromComparisons() throws {
        let path = set(["93.184.216.34"])
        let r = AnswerComparator.compare(path: path, references: [set(3, []), set(3, [])])
        let f = try XCTUnwrap(AnswerFindings.finding(qname: "nope.example.", qtype: DNSType.a, path: path, result: r, resolver: "192.168.1.1",
                                                     references: ["a", "b"], source: .capture, frames: [7], capturedNote: true))
        XCTAssertEqual(f.kind, .dnsNXDomainRewrite)
        XCTAssertEqual(f.severity, .high)
        XCTAssertTrue(f.evidence.contains { $0.detail.contains("not at capture time") })
        let ok = AnswerComparator.compare(path: path, references: [path])
        XCTAssertNil(AnswerFindings.finding(qname: "x.", qtype: 1, path: path, result: ok, resolver: nil, references: [], source: .probe))
    }

    func testEndpointParsing() throws {
        var e = try ResolverEndpoint.parse("https://1.1.1.1/dns-query")
        XCTAssertEqual(e.transport, .doh)
        XCTAssertEqual(e.tlsName, "cloudflare-dns.com", "well-known addresses are verified by name")
        e = try ResolverEndpoint.parse("tls://[2620:fe::fe]:8853#dns.quad9.net")
        XCTAssertEqual(e.host, "2620:fe::fe")
        XCTAssertEqual(e.port, 8853)
        XCTAssertEqual(e.tlsName, "dns.quad9.net")
        e = try ResolverEndpoint.parse("udp://127.0.0.1:5353")
        XCTAssertEqual(e.transport, .udp)
        for bad in ["ftp://x", "tls://", "https://h:99999/", "tls://h/path", "1.1.1.1", "tls://[::1"] {
            XCTAssertThrowsError(try ResolverEndpoint.parse(bad), bad)
        }
    }

    func testProbeTargets() throws {
        var t = try ProbeTarget.parse("proxy.golang.org")
        XCTAssertEqual(t.host, "proxy.golang.org")
        XCTAssertEqual(t.port, 443)
        XCTAssertTrue(t.tls)
        t = try ProbeTarget.parse("http://Example.COM:8080/x")
        XCTAssertEqual(t.host, "example.com")
        XCTAssertEqual(t.port, 8080)
        XCTAssertFalse(t.tls)
        XCTAssertEqual(t.path, "/x")
        let go = try ProbeTarget.goproxyTargets("https://proxy.golang.org,https://goproxy.cn|direct,off")
        XCTAssertEqual(go.map(\.host), ["proxy.golang.org", "goproxy.cn"])
        XCTAssertEqual(go.first?.path, "/golang.org/x/text/@v/list")
        XCTAssertThrowsError(try ProbeTarget.parse("ftp://x"))
        XCTAssertThrowsError(try ProbeTarget.parse("bad host!"))
    }

    func testResolvConf() {
        let text = "# generated\nsearch lan\nnameserver 192.168.1.1\nnameserver fe80::1%eth0 # router\nnameserver 192.168.1.1\noptions edns0\n"
        XCTAssertEqual(SystemResolvers.nameservers(in: text), ["192.168.1.1", "fe80::1"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsaudit-rc-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let stub = dir.appendingPathComponent("resolv.conf"), up = dir.appendingPathComponent("upstream.conf")
        try? "nameserver 127.0.0.53\n".write(to: stub, atomically: true, encoding: .utf8)
        try? "nameserver 10.0.0.1\n".write(to: up, atomically: true, encoding: .utf8)
        let found = SystemResolvers.toCheck(resolvConf: stub.path, resolvedUpstreams: up.path)
        XCTAssertEqual(found.addresses, ["127.0.0.53", "10.0.0.1"])
        XCTAssertFalse(found.notes.isEmpty)
        XCTAssertTrue(SystemResolvers.toCheck(resolvConf: dir.appendingPathComponent("missing").path).addresses.isEmpty)
    }

    func testCapturedAnswersAreBoundedAndSkipLocalNames() throws {
        var c = CapturedAnswers(maxNames: 2)
        func response(_ name: String, _ addr: String) -> DNSMessage {
            var m = DNSMessage(id: 1, flags: 0x8180)
            m.questions = [DNSQuestion(name: name, type: DNSType.a)]
            m.answers = [DNSResourceRecord(name: name, type: DNSType.a, ttl: 60, rdata: .a(DNSIPv4Address(addr)!))]
            return m
        }
        let a = IPAddress("10.0.0.53")!, b = IPAddress("10.0.0.2")!
        // Each name asked from its own client port (a separate query); www.example.com twice.
        for (i, n) in ["www.example.com.", "printer.local.", "4.3.2.1.in-addr.arpa.", "www.example.com.", "b.example.com.", "c.example.com."].enumerated() {
            c.add(response(n, "93.184.216.34"), resolver: a, client: b, clientPort: UInt16(40_000 + i), frame: 1, input: 0)
        }
        XCTAssertEqual(c.inOrder.map(\.qname), ["www.example.com.", "b.example.com."])
        XCTAssertEqual(c.inOrder.first?.responses, 2)
        XCTAssertEqual(c.overflow, 1)
        // A second, different response to the same query (an injector's race) is not the path's answer.
        var d = CapturedAnswers()
        d.add(response("www.example.com.", "203.0.113.66"), resolver: a, client: b, clientPort: 40_000, frame: 2, input: 0)
        d.add(response("www.example.com.", "93.184.216.34"), resolver: a, client: b, clientPort: 40_000, frame: 3, input: 0)
        XCTAssertEqual(d.inOrder.map(\.frame), [2])
        // The same name from another resolver, or to another client, is compared too.
        d.add(response("www.example.com.", "93.184.216.34"), resolver: IPAddress("10.0.0.54")!, client: b, clientPort: 40_001, frame: 4, input: 0)
        d.add(response("www.example.com.", "198.51.100.1"), resolver: a, client: IPAddress("10.0.0.3")!, clientPort: 40_000, frame: 5, input: 0)
        XCTAssertEqual(d.inOrder.map(\.frame), [2, 4, 5])
    }
}

/// Iris's "independently verifiable": a no-overlap answer whose address proves itself with a
/// trusted certificate for the name is consistent after all.
final class RescueTests: XCTestCase {
    func testNoOverlapIsRescuedOnlyForVerifiedTargets() throws {
        let path = AnswerSet(rcode: 0, addresses: ["151.101.1.69"])
        let refs = [AnswerSet(rcode: 0, addresses: ["23.1.2.3"]), AnswerSet(rcode: 0, addresses: ["23.1.2.3"])]
        let r = AnswerComparator.compare(path: path, references: refs)
        XCTAssertEqual(r.reason, "no-overlap")
        let f = try XCTUnwrap(AnswerFindings.finding(qname: "cdn.example.", qtype: DNSType.a, path: path, result: r, resolver: "10.0.0.1",
                                                     references: ["a", "b"], source: .probe))
        let kept = LadderVerdict.rescue([f], verified: ["other.example"])
        XCTAssertEqual(kept.first?.severity, f.severity)
        let rescued = LadderVerdict.rescue([f], verified: ["cdn.example"])
        XCTAssertEqual(rescued.first?.severity, .info)
        XCTAssertTrue(rescued.first?.title.contains("tls-verified") ?? false)
        // A bogon is never rescued.
        let bogon = AnswerComparator.compare(path: AnswerSet(rcode: 0, addresses: ["0.0.0.0"]), references: refs)
        let b = try XCTUnwrap(AnswerFindings.finding(qname: "cdn.example.", qtype: DNSType.a, path: AnswerSet(rcode: 0, addresses: ["0.0.0.0"]),
                                                     result: bogon, resolver: nil, references: [], source: .probe))
        XCTAssertEqual(LadderVerdict.rescue([b], verified: ["cdn.example"]).first?.severity, b.severity)
    }
}
