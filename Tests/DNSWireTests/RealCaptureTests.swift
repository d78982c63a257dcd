import DNSWire
import XCTest

/// Parse results for payloads from real captures, checked against the tshark truth TSVs
/// (`*.dns.tsv`) and the upstream tools' outputs. tshark prints names without the trailing
/// dot, `<Root>` for the root, and lists OPT among the additional records; we normalise.
final class RealCaptureTests: XCTestCase {
    func data(_ m: DNSMessage) -> [String] { m.answers.map { "\(DNSType.mnemonic($0.type))=\($0.rdata.presentation)" } }

    func testGoogleA() {
        let m = parseOK(Vectors.googleA)
        XCTAssertEqual(m.id, 0x1a2d)
        XCTAssertTrue(m.qr)
        XCTAssertTrue(m.rd)
        XCTAssertTrue(m.ra)
        XCTAssertEqual(m.rcode, 0)
        XCTAssertEqual(m.counts, DNSCounts(qd: 1, an: 12, ns: 0, ar: 1))
        XCTAssertEqual(m.questions, [DNSQuestion(name: "google.com.", type: 1, qclass: 1)])
        XCTAssertEqual(m.answers.map(\.rdata.presentation), [
            "216.197.242.244", "216.197.242.217", "216.197.242.216", "216.197.242.210", "216.197.242.237",
            "216.197.242.231", "216.197.242.238", "216.197.242.230", "216.197.242.224", "216.197.242.251",
            "216.197.242.223", "216.197.242.245",
        ])
        XCTAssertEqual(m.answers[0].ttl, 299)
        XCTAssertEqual(m.answers[0].name, "google.com.")
        XCTAssertEqual(m.edns?.udpSize, 512)
        XCTAssertTrue(m.additional.isEmpty)
        XCTAssertEqual(m.anomalies, [])
        XCTAssertTrue(m.isWellFormed)
        XCTAssertFalse(m.truncated)
    }

    func testGoogleAAAAAndMX() {
        XCTAssertEqual(data(parseOK(Vectors.googleAAAA)), ["AAAA=2607:f8b0:400f:801::200e"])
        XCTAssertEqual(data(parseOK(Vectors.googleMX)), [
            "MX=10 aspmx.l.google.com.", "MX=20 alt1.aspmx.l.google.com.", "MX=30 alt2.aspmx.l.google.com.",
            "MX=40 alt3.aspmx.l.google.com.", "MX=50 alt4.aspmx.l.google.com.",
        ])
    }

    func testSRV() {
        let m = parseOK(Vectors.srvResponse)
        XCTAssertEqual(m.questions.first?.name, "_sip._udp.sip.voice.google.com.")
        XCTAssertEqual(DNSType.mnemonic(m.questions.first?.type ?? 0), "SRV")
        XCTAssertEqual(data(m), [
            "SRV=20 1 5060 sip-anycast-2.voice.google.com.", "SRV=10 1 5060 sip-anycast-1.voice.google.com.",
        ])
        XCTAssertEqual(m.answers.first?.rdata, .srv(priority: 20, weight: 1, port: 5060, target: "sip-anycast-2.voice.google.com."))
    }

    func testHTTPS() {
        let m = parseOK(Vectors.httpsResponse)
        // tshark: HTTPS=1 <Root> alpn=h3,h3-29,h3-28,h3-27,h2 ipv4hint=104.16.132.229,104.16.133.229 ipv6hint=…
        XCTAssertEqual(data(m), [
            "HTTPS=1 . alpn=h3,h3-29,h3-28,h3-27,h2 ipv4hint=104.16.132.229,104.16.133.229 "
                + "ipv6hint=2606:4700::6810:84e5,2606:4700::6810:85e5",
        ])
        guard case .https(let prio, let target, let params)? = m.answers.first?.rdata else {
            return XCTFail("not HTTPS")
        }
        XCTAssertEqual(prio, 1)
        XCTAssertEqual(target, ".")
        XCTAssertEqual(params.map(\.key), [1, 4, 6])
        XCTAssertEqual(params[1], .ipv4hint(["104.16.132.229", "104.16.133.229"]))
    }

    func testPTR() {
        let m = parseOK(Vectors.ptrResponse)
        XCTAssertEqual(m.questions.first?.name, "meerkat.unx.ca.")
        XCTAssertEqual(data(m), ["PTR=suricata.io."])
        XCTAssertEqual(m.edns?.udpSize, 1232)
    }

    func testTXTMultipleStringsCNAMEChainNSAndGlue() {
        let m = parseOK(Vectors.txtMultiple)
        XCTAssertTrue(m.aa)
        XCTAssertEqual(m.answers.count, 3)
        XCTAssertEqual(m.answers[0].rdata, .cname("fa14._domainkey.flickr.com."))
        XCTAssertEqual(m.answers[1].rdata, .cname("fa14._domainkey.yahoo.com."))
        guard case .txt(let strings) = m.answers[2].rdata else { return XCTFail("not TXT") }
        XCTAssertEqual(strings.count, 2)
        let p = m.answers[2].rdata.presentation
        XCTAssertTrue(p.hasPrefix("\"k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDPdPfyJM2R2GqMyZM1flTzFeDIU+e7KmiKRw5yz3Xht+cgEIiHmm5lIGBuWCc5rtiy0CcxePpqccPKjn\" \"HSrDI23PU+"), p)
        XCTAssertEqual(m.authority.map(\.rdata.presentation), ["ns5.yahoo.com.", "ns4.yahoo.com.", "ns3.yahoo.com.", "ns2.yahoo.com.", "ns1.yahoo.com."])
        XCTAssertEqual(m.additional.map(\.rdata.presentation), ["68.180.131.16", "68.142.255.16", "203.84.221.53", "98.138.11.157", "119.160.247.124"])
        XCTAssertNil(m.edns)
        XCTAssertEqual(m.anomalies, [])
    }

    func testRRSIGWithDO() {
        let m = parseOK(Vectors.rrsigResponse)
        XCTAssertEqual(m.answers.count, 2)
        XCTAssertEqual(m.answers[1].rdata.presentation,
                       "A 8 2 86400 20191104052750 20191014122834 56575 example.com. "
                           + "ArdN77gYX/z0mmVRDJmFxZQ5faRmWcKd2Kh3i7Jj9R3naFl2g8psw3hkq81Iv+n+yCDRgZoUixX80u8Xrtn8hh2/GtoEwH7kk3PN/hOJ5QszE5hvVEWiI71YDseVjiBMZgzSRgV/RUMXCSRwd91mL3coOjhKhOA3mtl+etwypws=")
        XCTAssertEqual(m.edns, EDNSInfo(udpSize: 4096, extendedRCode: 0, version: 0, dnssecOK: true, options: []))
    }

    /// zeek/dns-max-compression-depth: Zeek reports DNS_max_compression_chain_depth_exceeded
    /// (its limit is lower); tshark decodes all 7 answers, and so do we.
    func testCompressionChainDepthDecodesLikeTshark() {
        let m = parseOK(Vectors.maxCompressionDepth)
        XCTAssertEqual(m.questions.map(\.name), ["a."])
        XCTAssertEqual(m.answers.map(\.name), Array(repeating: "a.", count: 7))
        XCTAssertEqual(m.answers.map(\.rdata.presentation), (1...7).map { "127.0.0.\($0)" })
        XCTAssertEqual(m.anomalies, [])
        XCTAssertTrue(DNSSummary.summarize(Vectors.maxCompressionDepth)?.wellFormed ?? false)
    }

    /// sv-dns-forward-pointer: the first QNAME points forward to the second. tshark and
    /// Suricata decode it (Zeek rejects it); we decode it and note an informational anomaly.
    func testForwardPointerDecodesLikeTshark() {
        let q = parseOK(Vectors.forwardPointerQuery)
        XCTAssertEqual(q.questions.map(\.name), ["codemonkey.net.", "codemonkey.net."])
        XCTAssertEqual(q.questions.map(\.type), [1, 1])
        XCTAssertEqual(codes(q), ["DNS_label_forward_compress_offset"])
        XCTAssertTrue(q.isWellFormed)
        let s = DNSSummary.summarize(Vectors.forwardPointerQuery)
        XCTAssertEqual(s?.wellFormed, true)
        XCTAssertEqual(s?.qtype, 1)
        let r = parseOK(Vectors.forwardPointerResponse)
        XCTAssertEqual(data(r), ["A=152.53.82.239"])
        XCTAssertEqual(r.answers.first?.ttl, 300)
        // Same question in both: same question hash.
        XCTAssertEqual(s?.questionHash, DNSSummary.summarize(Vectors.forwardPointerResponse)?.questionHash)
    }

    /// ndpi-malformed_dns: tshark shows qname "www.xt.com,<Name too long>" and answers
    /// "A=66.66.66.66;CNAME=<Name too long>" and does not mark the packet malformed.
    func testNameTooLongLikeTshark() {
        let m = parseOK(Vectors.ndpiMalformed)
        XCTAssertEqual(m.questions.map(\.name), ["www.xt.com.", DNSName.tooLongPlaceholder])
        XCTAssertEqual(m.questions.map(\.type), [1, 1])
        XCTAssertEqual(data(m), ["A=66.66.66.66", "CNAME=<Name too long>"])
        XCTAssertFalse(m.truncated)
        XCTAssertTrue(codes(m).contains("DNS_name_too_long"))
        XCTAssertFalse(m.isWellFormed)
        XCTAssertEqual(DNSSummary.summarize(Vectors.ndpiMalformed)?.wellFormed, false)
    }

    /// zeek/dns-edns-bad-length: the OPT RDATA is a single byte. Zeek: EDNS_truncated_option;
    /// tshark marks the packet malformed and stops. Deliberate difference: RDLENGTH bounds the
    /// options, so we report the bad option and still parse the A record that follows.
    func testEDNSBadOptionLength() {
        let m = parseOK(Vectors.ednsBadLength)
        XCTAssertEqual(m.questions.map(\.name), ["example.com."])
        XCTAssertEqual(m.edns?.udpSize, 4096)
        XCTAssertEqual(m.edns?.options, [])
        XCTAssertEqual(codes(m), ["DNS_EDNS_bad_option_length"])
        XCTAssertEqual(m.additional.map(\.rdata.presentation), ["203.0.113.7"])
        XCTAssertFalse(m.truncated)
        XCTAssertEqual(DNSSummary.summarize(Vectors.ednsBadLength)?.wellFormed, true)  // question/answer fine
    }

    /// tcpdump/dns-zlip-1: a 0-byte DNS payload ("[length 0 < 12] (invalid)").
    func testEmptyPayload() {
        XCTAssertEqual(DNSMessage.parse([]), .failure(.tooShort(length: 0)))
        XCTAssertNil(DNSSummary.summarize([]))
        XCTAssertNil(DNSSummary.summarize([UInt8](repeating: 0, count: 11)))
        XCTAssertNotNil(DNSSummary.summarize([UInt8](repeating: 0, count: 12)))
    }

    // tcpdump edns-opts -vv output is the truth for the options.
    func testEDNSOptionsFromTcpdumpVectors() {
        // [ECS 192.0.2.0/24/0]
        XCTAssertEqual(parseOK(Vectors.ecsV4Response).edns?.options,
                       [.ecs(family: 1, sourcePrefix: 24, scopePrefix: 0, address: "192.0.2.0")])
        // [ECS 2001:db8:85a3::8a2e:0:0/100/0]
        XCTAssertEqual(parseOK(Vectors.ecsV6Query).edns?.options,
                       [.ecs(family: 2, sourcePrefix: 100, scopePrefix: 0, address: "2001:db8:85a3::8a2e:0:0")])
        // [COOKIE a954d29208767b5c cf75f75b5db0bf0575c9f2d76c962883]
        XCTAssertEqual(parseOK(Vectors.cookieResponse).edns?.options,
                       [.cookie(client: hex("a954d29208767b5c"), server: hex("cf75f75b5db0bf0575c9f2d76c962883"))])
        // [NSID 00112233445566778899]
        XCTAssertEqual(parseOK(Vectors.nsidQuery).edns?.options, [.nsid(hex("00112233445566778899"))])
        // [Opt77 deadbeef]
        XCTAssertEqual(parseOK(Vectors.opt77Query).edns?.options, [.other(code: 77, data: hex("deadbeef"))])
        // [PADDING (6)]
        XCTAssertEqual(parseOK(Vectors.paddingQuery).edns?.options, [.padding(6)])
        // [NSID 0123456789abcdef,PADDING (12),COOKIE aaaaaaaaaaaaaaaa]
        XCTAssertEqual(parseOK(Vectors.nsidPaddingCookieQuery).edns?.options,
                       [.nsid(hex("0123456789abcdef")), .padding(12), .cookie(client: hex("aaaaaaaaaaaaaaaa"), server: nil)])
        // [COOKIE aaaaaaaaaaaaaaaa 70a50ca25db0bf14d523a3f77957f788,ECS 192.1.0.0/16/0]
        XCTAssertEqual(parseOK(Vectors.cookieEcsResponse).edns?.options, [
            .cookie(client: hex("aaaaaaaaaaaaaaaa"), server: hex("70a50ca25db0bf14d523a3f77957f788")),
            .ecs(family: 1, sourcePrefix: 16, scopePrefix: 0, address: "192.1.0.0"),
        ])
        for v in [Vectors.ecsV4Response, Vectors.ecsV6Query, Vectors.cookieResponse, Vectors.nsidQuery,
                  Vectors.opt77Query, Vectors.paddingQuery, Vectors.nsidPaddingCookieQuery, Vectors.cookieEcsResponse] {
            XCTAssertEqual(parseOK(v).anomalies, [])
        }
    }

    /// RDATA taken from zeek/dns-edns-ecs.pcap (tshark: DS=0x3322 8 2 b4:f2:…, DNSKEY=0x0100 … 3 8 …,
    /// NSEC3 ['50','1','46']=1 0 0 20 33:89:… 01016ip7pt7mtnem92b5cn2o7pt8qqcj).
    func testDNSSECRDataFromCapture() throws {
        let ds = try messageWithRData(type: 43, rdata: hex("33220802b4f2c7f53231e81fce17992d3106d0cd41df785fa114bb0b260ccef21a9a310a"))
        XCTAssertEqual(firstAnswer(ds)?.rdata.presentation,
                       "13090 8 2 B4F2C7F53231E81FCE17992D3106D0CD41DF785FA114BB0B260CCEF21A9A310A")
        let key = try messageWithRData(type: 48, rdata: hex("""
            0100030803010001cd46f5d7c54812fefcdc5177bffff3427c1f1f218d4c9a43ba1a255d2d384ac4735f93a34046a7714e07b7d0
            150e9d2481f37d10f860ed0aa098da1f83fb7d63ba42cfb4e54e9d9dfd8118fcbdd66ff82c7a8cfba8f314c31fe7ae861f1b9960
            1ffc3a429cc9153b212fafb9bb582fc8d3ee1ab3aa0f975e941b0d195bb4d80f
            """))
        XCTAssertEqual(firstAnswer(key)?.rdata.presentation,
                       "256 3 8 AwEAAc1G9dfFSBL+/NxRd7//80J8Hx8hjUyaQ7oaJV0tOErEc1+To0BGp3FOB7fQFQ6dJIHzfRD4YO0KoJjaH4P7fWO6Qs+05U6dnf2BGPy91m/4LHqM+6jzFMMf566GHxuZYB/8OkKcyRU7IS+vubtYL8jT7hqzqg+XXpQbDRlbtNgP")
        let nsec3 = try messageWithRData(type: 50, rdata: hex("0100001410338955d97608c0b1347b0567c392b5f8140040134b27cf4f6eddd64896565c583e7a8d69930006400000000002"))
        XCTAssertEqual(firstAnswer(nsec3)?.rdata.presentation,
                       "1 0 20 338955D97608C0B1347B0567C392B5F8 01016IP7PT7MTNEM92B5CN2O7PT8QQCJ A RRSIG")
    }
}
