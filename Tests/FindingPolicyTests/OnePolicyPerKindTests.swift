import TestPKISupport
import FindingPolicy
import Findings
import Foundation
import NetTypes
@testable import Probes
import ResolverClients
import TLSAnalysis
import TLSCertificates
import TLSWire
import X509
import XCTest

/// Issue 15 bug 11: one finding kind, one rule. Each test builds the same situation twice — as the
/// capture path sees it (TLSConnectionTracker fed packet facts) and as the probe sees it
/// (LadderVerdict fed a ladder) — and checks that both give the same kind, subject (so the same
/// id), severity and confidence.
final class OnePolicyPerKindTests: XCTestCase {
    static let server = "10.88.5.10"
    static let name = "www.lab.test"

    // MARK: - Capture side

    /// A capture of one TLS connection to `server`:443 with the given ending.
    func captureFindings(sni: String? = OnePolicyPerKindTests.name, port: UInt16 = 443,
                         build: (TLSConnectionRecord) -> Void, captureRunsFor seconds: Int64 = 30) -> [Finding] {
        let tracker = TLSConnectionTracker()
        let client = IPAddress("10.88.1.2")!, server = IPAddress(Self.server)!
        let t0 = Timestamp(seconds: 1_000, nanoseconds: 0)
        let r = tracker.open(client: client, clientPort: 40_000, server: server, serverPort: port, input: 0, ts: t0)
        r.segment(PacketFacts(frame: 1, ts: t0, fromClient: true, ttl: 64, ipID: 100, flags: 0x02), payloadLength: 0)
        r.segment(PacketFacts(frame: 2, ts: Timestamp(seconds: 1_000, nanoseconds: 1_000_000), fromClient: false, ttl: 63, ipID: 0, flags: 0x12), payloadLength: 0)
        r.sawClientHello(sni: sni, frame: 4, ts: Timestamp(seconds: 1_000, nanoseconds: 2_000_000))
        build(r)
        tracker.close(r)
        return tracker.finish(captureEnd: { _ in Timestamp(seconds: 1_000 + seconds, nanoseconds: 0) })
    }

    // MARK: - Probe side

    func ladder(host: String = OnePolicyPerKindTests.name, outcome: ConnectOutcome, steps: [LadderStep]) -> LadderResult {
        let t = ProbeTarget(host: host, port: 443, tls: true, path: "/", original: host)
        var l = LadderResult(target: t)
        l.pathAddresses = [Self.server]
        l.connections = [(Self.server, false, outcome)]
        l.steps = [LadderStep(layer: "dns", ok: true, detail: "answers \(Self.server)")] + steps
        return l
    }

    func step(_ layer: String, _ ok: Bool, _ detail: String) -> LadderStep {
        LadderStep(layer: layer, ok: ok, detail: detail, address: Self.server, fromReference: false)
    }

    func assertSameJudgement(_ capture: Finding?, _ probe: Finding?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let capture, let probe else {
            XCTFail("\(what): capture \(capture?.kind.rawValue ?? "nil"), probe \(probe?.kind.rawValue ?? "nil")", file: file, line: line)
            return
        }
        XCTAssertEqual(capture.kind, probe.kind, what, file: file, line: line)
        XCTAssertEqual(capture.severity, probe.severity, "\(what): severity", file: file, line: line)
        XCTAssertEqual(capture.confidence, probe.confidence, "\(what): confidence", file: file, line: line)
        XCTAssertEqual(capture.id, probe.id, "\(what): same subject, same id (\(capture.subject) vs \(probe.subject))", file: file, line: line)
        XCTAssertEqual(capture.title, probe.title, "\(what): the policy writes the title", file: file, line: line)
    }

    // MARK: - tls.untrusted-certificate

    struct CertCase {
        var label: String
        var chain: [[UInt8]]
        var severity: Severity
        var confidence: Confidence
        var titleSays: String
    }

    func testUntrustedCertificateOneRuleForCaptureAndProbe() throws {
        let trusted = try TestPKI.root("Lab Trusted Root")
        let rogue = try TestPKI.root("Lab Rogue Root")
        let forti = try TestPKI.root("FortiGate CA 1234")
        let settings = TrustSettings(useSystemStore: false, additionalRoots: TrustRoots(certificates: [trusted.certificate]))
        let cases = [
            CertCase(label: "untrusted CA, right name", chain: [try TestPKI.leaf(Self.name, dnsNames: [Self.name], ca: rogue).der],
                     severity: .high, confidence: .possible, titleSays: "not trusted"),
            CertCase(label: "untrusted CA, wrong name", chain: [try TestPKI.leaf("other", dnsNames: ["other.lab.test"], ca: rogue).der],
                     severity: .high, confidence: .likely, titleSays: "not trusted"),
            CertCase(label: "trusted CA, wrong name (bug 7)", chain: [try TestPKI.leaf("other", dnsNames: ["other.lab.test"], ca: trusted).der],
                     severity: .low, confidence: .likely, titleSays: "misconfiguration, not interception"),
            CertCase(label: "interception product's CA", chain: [try TestPKI.leaf(Self.name, dnsNames: [Self.name], ca: forti).der],
                     severity: .high, confidence: .likely, titleSays: "interception product"),
        ]
        for c in cases {
            let judge = CertificateJudge(settings: settings)
            guard case .judged(let v) = judge.judge(der: c.chain, serverName: Self.name, at: Date()) else {
                XCTFail("\(c.label): the chain is judged"); continue
            }
            let captured = captureFindings(build: { r in
                r.sawCertificate(v, frame: 6)
                r.sawServerHello(frame: 5, ts: Timestamp(seconds: 1_000, nanoseconds: 3_000_000))
            }).first { $0.kind == FindingKind.tlsUntrustedCertificate }
            var o = ConnectOutcome()
            o.tcp = .success(1)
            o.tls = .success(2)
            o.http = .success(200)
            o.chain = c.chain
            let probed = LadderVerdict.assess([ladder(outcome: o, steps: [step("tcp", true, "connected"), step("tls", true, "done"), step("http", true, "200")])],
                                              judge: CertificateJudge(settings: settings)).findings.first { $0.kind == FindingKind.tlsUntrustedCertificate }
            assertSameJudgement(captured, probed, c.label)
            XCTAssertEqual(probed?.severity, c.severity, "\(c.label): severity")
            XCTAssertEqual(probed?.confidence, c.confidence, "\(c.label): confidence")
            XCTAssertTrue(probed?.title.contains(c.titleSays) ?? false, "\(c.label): \(probed?.title ?? "")")
        }
    }

    /// Bug 6: a probe of an address is judged against the IP SANs — a genuine server listing the
    /// address is trusted, not a name mismatch.
    func testProbeOfAnAddressMatchesTheIPSAN() throws {
        let trusted = try TestPKI.root("Lab Trusted Root")
        let settings = TrustSettings(useSystemStore: false, additionalRoots: TrustRoots(certificates: [trusted.certificate]))
        var o = ConnectOutcome()
        o.tcp = .success(1)
        o.tls = .success(2)
        o.http = .success(200)
        o.chain = [try TestPKI.leaf("resolver", dnsNames: ["resolver.lab.test"], ipAddresses: [Self.server], ca: trusted).der]
        let steps = [step("tcp", true, "connected"), step("tls", true, "done"), step("http", true, "200")]
        let good = LadderVerdict.assess([ladder(host: Self.server, outcome: o, steps: steps)], judge: CertificateJudge(settings: settings))
        XCTAssertTrue(good.findings.isEmpty, "the IP SAN covers the address: \(good.findings.map(\.title))")
        XCTAssertTrue(good.notes.first?.contains("certificate ok") ?? false, "\(good.notes)")

        o.chain = [try TestPKI.leaf("resolver", dnsNames: ["resolver.lab.test"], ipAddresses: ["10.88.5.99"], ca: trusted).der]
        let other = LadderVerdict.assess([ladder(host: Self.server, outcome: o, steps: steps)], judge: CertificateJudge(settings: settings))
        XCTAssertEqual(other.findings.map(\.kind), [FindingKind.tlsUntrustedCertificate], "another address: a mismatch")
        XCTAssertEqual(other.findings.first?.severity, .low, "with a trusted chain it is a misconfiguration")
        XCTAssertNil(other.findings.first?.subjectValue("sni"), "no SNI for an address")
    }

    // MARK: - Resets, silence

    func testResetAfterClientHelloOneRule() {
        // A reset from the server's side, same IP TTL as its SYN-ACK: nothing marks it as injected.
        let captured = captureFindings(build: { r in
            r.segment(PacketFacts(frame: 5, ts: Timestamp(seconds: 1_000, nanoseconds: 3_000_000), fromClient: false, ttl: 63, ipID: 0, flags: 0x04), payloadLength: 0)
        }).first
        var o = ConnectOutcome()
        o.tcp = .success(1)
        o.tls = .failure(.connectionReset)
        let probed = LadderVerdict.assess([ladder(outcome: o, steps: [step("tcp", true, "connected"), step("tls", false, "connection reset")])],
                                          judge: CertificateJudge()).findings.first
        assertSameJudgement(captured, probed, "reset after the ClientHello")
        XCTAssertEqual(probed?.kind, FindingKind.tlsResetAfterClientHello)
        XCTAssertEqual(probed?.severity, .medium)
        XCTAssertEqual(probed?.confidence, .possible)

        // The probe's control — the same address without the name — decides how much it says.
        var named = ladder(outcome: o, steps: [step("tcp", true, "connected"), step("tls", false, "connection reset")])
        named.sniControls[Self.server] = true
        let onlyThisName = LadderVerdict.assess([named], judge: CertificateJudge()).findings.first
        XCTAssertEqual(onlyThisName?.severity, .medium)
        XCTAssertEqual(onlyThisName?.confidence, .likely, "the failure follows the name: SNI filtering is likely")
        named.sniControls[Self.server] = false
        let everyName = LadderVerdict.assess([named], judge: CertificateJudge()).findings.first
        XCTAssertEqual(everyName?.severity, .low, "the server fails without the name too: its own problem")
        XCTAssertEqual(onlyThisName?.id, everyName?.id, "one subject whatever the control says")

        // With the capture's marks of injection, the same policy raises it.
        let injected = captureFindings(build: { r in
            r.segment(PacketFacts(frame: 5, ts: Timestamp(seconds: 1_000, nanoseconds: 3_000_000), fromClient: false, ttl: 250, ipID: 0, flags: 0x04), payloadLength: 0)
        }).first
        XCTAssertEqual(injected?.severity, .high)
        XCTAssertEqual(injected?.confidence, .likely)
    }

    func testHandshakeTimeoutOneRule() {
        let captured = captureFindings(build: { _ in }).first
        var o = ConnectOutcome()
        o.tcp = .success(1)
        o.tls = .failure(.timeout)
        let probed = LadderVerdict.assess([ladder(outcome: o, steps: [step("tcp", true, "connected"), step("tls", false, "timed out")])],
                                          judge: CertificateJudge()).findings.first
        assertSameJudgement(captured, probed, "silence after the ClientHello")
        XCTAssertEqual(probed?.kind, FindingKind.tlsHandshakeTimeout)
        XCTAssertEqual(probed?.severity, .medium)
    }

    // MARK: - encrypted-dns.blocked

    func testEncryptedDNSBlockedOneRule() {
        // The capture: a client's DoT SYN that nobody answered.
        let captured = { () -> Finding? in
            let tracker = TLSConnectionTracker()
            let t0 = Timestamp(seconds: 1_000, nanoseconds: 0)
            let r = tracker.open(client: IPAddress("10.88.1.2")!, clientPort: 40_001, server: IPAddress(Self.server)!, serverPort: 853, input: 0, ts: t0)
            r.segment(PacketFacts(frame: 1, ts: t0, fromClient: true, ttl: 64, ipID: 1, flags: 0x02), payloadLength: 0)
            tracker.close(r)
            return tracker.finish(captureEnd: { _ in Timestamp(seconds: 1_030, nanoseconds: 0) }).first
        }()
        // The same evidence as a probe would state it.
        let probed = FindingPolicy.encryptedDNSBlocked(
            EncryptedDNSBlockedEvidence(server: Self.server, port: 853, service: .dot, failure: .noAnswerToSYN, offered: .clientAttempted),
            evidence: [Evidence(source: .probe, detail: "TCP connect timed out")])
        assertSameJudgement(captured, probed, "a dropped DoT SYN")
        XCTAssertEqual(captured?.severity, .medium, "a drop with nothing known of plain DNS: medium")

        // A refused DoT SYN: the reset's IP TTL against the server's usual one (its DNS answers).
        func refused(usualTTL: UInt8?, answersDNS: Bool) -> Finding? {
            let tracker = TLSConnectionTracker()
            if let usualTTL { tracker.usualServerTTL = { _ in usualTTL } }
            tracker.answersPlainDNS = { _ in answersDNS }
            let t0 = Timestamp(seconds: 1_000, nanoseconds: 0)
            let r = tracker.open(client: IPAddress("10.88.1.2")!, clientPort: 40_002, server: IPAddress(Self.server)!, serverPort: 853, input: 0, ts: t0)
            r.segment(PacketFacts(frame: 1, ts: t0, fromClient: true, ttl: 64, ipID: 1, flags: 0x02), payloadLength: 0)
            r.segment(PacketFacts(frame: 2, ts: t0, fromClient: false, ttl: 64, ipID: 0, flags: 0x14), payloadLength: 0)
            tracker.close(r)
            return tracker.finish(captureEnd: { _ in Timestamp(seconds: 1_030, nanoseconds: 0) }).first
        }
        XCTAssertEqual(refused(usualTTL: 63, answersDNS: true)?.severity, .high, "a reset unlike the server's own packets is injected")
        XCTAssertEqual(refused(usualTTL: 64, answersDNS: true)?.severity, .low,
                       "the server's own reset (same TTL) of a port a client merely tried: it does not serve it, even though it answers plain DNS")
        XCTAssertEqual(refused(usualTTL: nil, answersDNS: false)?.severity, .low, "a refusal, nothing else known")

        // Evidence decides, not the source: plain DNS answering makes a drop high, a refusal of a
        // port nobody said is offered is nothing, no route is nothing.
        func judge(_ f: EncryptedDNSBlockedEvidence.Failure, _ offered: EncryptedDNSBlockedEvidence.Offered, plain: Bool?) -> Finding? {
            FindingPolicy.encryptedDNSBlocked(EncryptedDNSBlockedEvidence(server: Self.server, port: 853, service: .dot, failure: f,
                                                                          offered: offered, plainDNSWorks: plain), evidence: [])
        }
        XCTAssertEqual(judge(.noAnswerToSYN, .configured, plain: true)?.severity, .high)
        XCTAssertEqual(judge(.noAnswerToSYN, .configured, plain: true)?.confidence, .likely)
        XCTAssertEqual(judge(.refused, .configured, plain: true)?.severity, .medium)
        XCTAssertEqual(judge(.refused, .designated, plain: true)?.severity, .medium, "the resolver designates the port it refuses")
        XCTAssertEqual(judge(.refused, .clientAttempted, plain: true)?.severity, .low, "a port a client tried, refused by the host")
        XCTAssertEqual(judge(.refusedByInjectedReset(marks: ["IP TTL 64 where the server's own packets arrive with 63"]), .clientAttempted, plain: true)?.severity, .high)
        XCTAssertEqual(judge(.refused, .knownOperator, plain: nil)?.severity, .low)
        XCTAssertNil(judge(.refused, .unknown, plain: true), "a closed port the resolver never offered is not a finding")
        XCTAssertNil(judge(.noAnswerToSYN, .unknown, plain: true))
        XCTAssertNil(judge(.noRoute, .configured, plain: false), "no route: a reachability note, not a block")
        XCTAssertEqual(judge(.cutAfterClientHello(injectedMarks: ["IP TTL 250 where the server's SYN-ACK had 63"]), .clientAttempted, plain: nil)?.severity, .high)
    }

    // MARK: - probe.unreachable (bugs 16, 17)

    func testUnreachableIsADiagnosisNotTampering() {
        func run(_ e: ResolverError, reference: ConnectOutcome? = nil) -> (Finding?, String) {
            var o = ConnectOutcome()
            o.tcp = .failure(e)
            var l = ladder(outcome: o, steps: [step("tcp", false, "\(Self.server):443 \(e)")])
            if let reference {
                l.connections.append(("10.88.9.9", true, reference))
            }
            let v = LadderVerdict.assess([l], judge: CertificateJudge())
            return (v.findings.first, v.notes.joined(separator: "\n"))
        }
        let (refused, refusedNote) = run(.connectionRefused)
        XCTAssertEqual(refused?.kind, FindingKind.probeUnreachable)
        XCTAssertEqual(refused?.severity, .low, "the host refuses the port: a diagnosis")
        XCTAssertFalse(refusedNote.contains("fails as well") || (refused.map { $0.remediation + $0.title } ?? "").contains("fails as well"),
                       "no reference address existed: nothing may be said about one: \(refusedNote)")
        XCTAssertFalse((refused?.evidence.map(\.detail).joined() ?? "").contains("references' address"), "\(refused?.evidence.map(\.detail) ?? [])")
        XCTAssertEqual(run(.unreachable("no route")).0?.severity, .info, "no route from here: info")
        XCTAssertEqual(run(.timeout).0?.severity, .low, "a silent address alone: low")
        var works = ConnectOutcome()
        works.tcp = .success(1)
        works.tls = .success(2)
        works.http = .success(200)
        XCTAssertEqual(run(.timeout, reference: works).0?.severity, .medium, "silent here while the references' address works: medium")
        var fails = ConnectOutcome()
        fails.tcp = .failure(.timeout)
        let (_, bothNote) = run(.timeout, reference: fails)
        XCTAssertTrue(bothNote.contains("fails as well"), "a reference address was tried and failed: say so: \(bothNote)")
    }
}
