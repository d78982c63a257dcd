// `dnsaudit-gen demo`: small, byte-identical demo captures and a README that says what
// `dnsaudit analyze` should find in each (with the frame numbers).

import PacketSynth

struct DemoResult {
    var file: String
    var packets: Int
    var bytes: Int
}

enum Demo {
    // MARK: The cast (documentation address ranges only, locally administered MACs)

    static let clientMAC = MACAddress(0x02, 0x00, 0x00, 0x00, 0x00, 0x0a)
    static let routerMAC = MACAddress(0x02, 0x00, 0x00, 0x00, 0x00, 0x01)
    static let clientV4 = IPv4Address(192, 0, 2, 10)
    static let routerV4 = IPv4Address(192, 0, 2, 1)
    static let resolverV4 = IPv4Address(198, 51, 100, 53)
    static let clientV6 = IPv6Address(groups: [0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10])
    static let resolverV6 = IPv6Address(groups: [0x2001, 0xdb8, 0x53, 0, 0, 0, 0, 0x53])
    static let forgedAnswer = IPv4Address(203, 0, 113, 66)
    static let unsolicitedAnswer = IPv4Address(203, 0, 113, 99)

    // Answers the "internet" gives (example.com / .net / .org as they were long published).
    static let exampleV4 = IPv4Address(93, 184, 215, 14)
    static let exampleV6 = IPv6Address(groups: [0x2606, 0x2800, 0x21f, 0xcb07, 0x6820, 0x80da, 0xaf6b, 0x8b2c])
    static let cdnV4a = IPv4Address(198, 51, 100, 80)
    static let cdnV4b = IPv4Address(198, 51, 100, 81)

    static let resolverTTL: UInt8 = 57
    static let injectorTTL: UInt8 = 243

    static func client4() -> Node { Node(.v4(clientV4), mac: clientMAC, ttl: 64, ipID: 0x7a10) }
    static func resolver4() -> Node { Node(.v4(resolverV4), mac: routerMAC, ttl: resolverTTL, ipID: 0x3e01) }
    static func client6() -> Node { Node(.v6(clientV6), mac: clientMAC, ttl: 64, ipID: 0) }
    static func resolver6() -> Node { Node(.v6(resolverV6), mac: routerMAC, ttl: 58, ipID: 0) }

    // MARK: Entry point

    /// Writes the three demo captures and README.md into `directory`.
    static func run(directory: String) throws -> [DemoResult] {
        let dir = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        var results: [DemoResult] = []
        var sections: [String] = []
        for (name, build) in [("dns-injection.pcap", injection), ("dns-clean.pcap", clean),
                              ("dns-tcp-fragments.pcap", tcpAndFragments)] as [(String, () throws -> Script)] {
            let script = try build()
            let path = (dir.isEmpty ? "." : dir) + "/" + name
            let written = try script.timeline.write(to: path)
            results.append(DemoResult(file: path, packets: written.packets, bytes: written.bytes))
            sections.append(script.readme(file: name, packets: written.packets, bytes: written.bytes,
                                          frames: written.labels))
        }
        try writeText(readmeHeader + sections.joined(separator: "\n") + readmeFooter,
                      to: (dir.isEmpty ? "." : dir) + "/README.md")
        return results
    }

    /// A capture under construction plus the README section that describes it.
    struct Script {
        var timeline = Timeline()
        var dnsMessages = 0
        /// Markdown with `{{label}}` placeholders replaced by frame numbers.
        var text: String = ""

        mutating func dns(_ ms: Double, _ frame: [UInt8], _ label: String? = nil, messages: Int = 1) {
            timeline.at(ms, frame, label)
            dnsMessages += messages
        }

        func readme(file: String, packets: Int, bytes: Int, frames: [String: Int]) -> String {
            var out = text
            for (label, frame) in frames.sorted(by: { $0.key < $1.key }) {
                out = out.replacingAll("{{\(label)}}", with: String(frame))
            }
            out = out.replacingAll("{{packets}}", with: String(packets))
            out = out.replacingAll("{{bytes}}", with: String(bytes))
            out = out.replacingAll("{{dns_messages}}", with: String(dnsMessages))
            return out
        }
    }

    /// One plain UDP lookup: query at `ms`, answer `rttMs` later.
    static func lookup(_ s: inout Script, at ms: Double, rttMs: Double, client: Node, resolver: Node, sport: UInt16,
                       id: UInt16, name: String, type: UInt16, answers: [DNSRecordSpec], rcode: UInt16 = 0,
                       authority: [DNSRecordSpec] = [], labels: (String?, String?) = (nil, nil)) throws {
        let q = try DNSPayloads.query(id: id, name: name, type: type)
        let r = try DNSPayloads.response(id: id, name: name, type: type, rcode: rcode, answers: answers,
                                         authority: authority)
        s.dns(ms, client.udp(sport, to: resolver, 53, q), labels.0)
        s.dns(ms + rttMs, resolver.udp(53, to: client, sport, r), labels.1)
    }

    static func arp(_ s: inout Script, at ms: Double) {
        let toAll = FrameBuilder.ethernet(source: clientMAC, destination: .broadcast)
        s.timeline.at(ms, toAll.arp(reply: false, senderMAC: clientMAC, senderIP: clientV4, targetMAC: .zero,
                                    targetIP: routerV4))
        let back = FrameBuilder.ethernet(source: routerMAC, destination: clientMAC)
        s.timeline.at(ms + 0.412, back.arp(reply: true, senderMAC: routerMAC, senderIP: routerV4,
                                           targetMAC: clientMAC, targetIP: clientV4))
    }

    // MARK: 1. dns-injection.pcap

    static func injection() throws -> Script {
        var s = Script()
        let client = client4(), resolver = resolver4()
        // The injector spoofs the resolver's address; its packets arrive with a very different
        // IP TTL, IP ID 0 and no DF bit, and well before the resolver could have answered.
        let injector = Node(.v4(resolverV4), mac: routerMAC, ttl: injectorTTL, ipID: 0, ipIDStep: 0, dontFragment: false)

        arp(&s, at: 0)
        try lookup(&s, at: 10, rttMs: 23.412, client: client, resolver: resolver, sport: 53011, id: 0x1a2b,
                   name: "example.com", type: RRType.a, answers: [.init(name: "example.com", ttl: 3_412, data: .a(exampleV4))])
        try lookup(&s, at: 40.5, rttMs: 24.105, client: client, resolver: resolver, sport: 53012, id: 0x1a2c,
                   name: "example.com", type: RRType.aaaa,
                   answers: [.init(name: "example.com", ttl: 3_412, data: .aaaa(exampleV6))])
        try lookup(&s, at: 81.2, rttMs: 22.870, client: client, resolver: resolver, sport: 53013, id: 0x1a2d,
                   name: "example.net", type: RRType.a, answers: [.init(name: "example.net", ttl: 1_921, data: .a(exampleV4))])
        try lookup(&s, at: 120.9, rttMs: 25.318, client: client, resolver: resolver, sport: 53014, id: 0x1a2e,
                   name: "www.example.com", type: RRType.a,
                   answers: [.init(name: "www.example.com", ttl: 2_771, data: .a(exampleV4))])

        // The race: the forged answer 2.137 ms after the query, the genuine one 25.731 ms after.
        let qname = "www.example.org"
        let q = try DNSPayloads.query(id: 0x4f2c, name: qname, type: RRType.a)
        let forged = try DNSPayloads.response(id: 0x4f2c, name: qname, type: RRType.a,
                                              answers: [.init(name: qname, ttl: 300, data: .a(forgedAnswer))],
                                              ednsSize: nil)
        let genuine = try DNSPayloads.response(id: 0x4f2c, name: qname, type: RRType.a,
                                               answers: [.init(name: qname, ttl: 1_800, data: .a(exampleV4))])
        s.dns(1_000, client.udp(40112, to: resolver, 53, q), "inj-query")
        s.dns(1_002.137, injector.udp(53, to: client, 40112, forged), "inj-forged")
        let genuineID = resolver.ipID
        s.dns(1_025.731, resolver.udp(53, to: client, 40112, genuine), "inj-genuine")
        try lookup(&s, at: 1_050.3, rttMs: 24.602, client: client, resolver: resolver, sport: 40113, id: 0x4f2d,
                   name: qname, type: RRType.aaaa, answers: [.init(name: qname, ttl: 1_800, data: .aaaa(exampleV6))])

        // DNS over TCP: query in one segment, the answer split over two.
        var conv = client.tcp(41234, to: resolver, 53, clientISN: 0x1f2e_3d4c, serverISN: 0x8a7b_6c5d)
        let hs = conv.handshake()
        s.timeline.at(2_000, hs[0], "tcp-syn")
        s.timeline.at(2_022.950, hs[1])
        s.timeline.at(2_023.010, hs[2])
        let tq = try DNSPayloads.query(id: 0x6d01, name: "example.com", type: RRType.txt)
        let tr = try DNSPayloads.response(id: 0x6d01, name: "example.com", type: RRType.txt, answers: [
            .init(name: "example.com", ttl: 86_400, data: .txt(["v=spf1 -all"])),
            .init(name: "example.com", ttl: 86_400, data: .txt(["wgyf8z8cgvm2qmxpnbnldrcltvk4xqfn"])),
        ])
        for f in conv.send(DNSPayloads.tcpFramed(tq), from: .client) { s.dns(2_023.100, f, "tcp-query") }
        let answer = conv.send(DNSPayloads.tcpFramed(tr), from: .server, splitAt: [30])
        s.timeline.at(2_046.300, answer[0], "tcp-answer-1")
        s.dns(2_046.352, answer[1], "tcp-answer-2")
        s.timeline.at(2_046.410, conv.ack(from: .client))
        let fin = conv.close(initiator: .client)
        s.timeline.at(2_047.000, fin[0])
        s.timeline.at(2_069.880, fin[1])
        s.timeline.at(2_069.940, fin[2])
        client.sync(client: conv, server: resolver)

        // A response nobody asked for: txid 0xbeef and a question never asked, sent to the port
        // of a query that is outstanding (so it cannot be a query the capture missed).
        let unsolicited = try DNSPayloads.response(id: 0xbeef, name: "login.example.net", type: RRType.a,
                                                   answers: [.init(name: "login.example.net", ttl: 300,
                                                                   data: .a(unsolicitedAnswer))],
                                                   ednsSize: nil)
        try lookup(&s, at: 3_100.4, rttMs: 23.907, client: client, resolver: resolver, sport: 53015, id: 0x1a2f,
                   name: "example.org", type: RRType.a, answers: [.init(name: "example.org", ttl: 2_048, data: .a(exampleV4))],
                   labels: ("last-query", nil))
        s.dns(3_104.518, injector.udp(53, to: client, 53015, unsolicited), "unsolicited")

        s.text = """
        ## dns-injection.pcap — an on-path injector racing the resolver

        {{packets}} packets, {{bytes}} bytes, {{dns_messages}} DNS messages. Client `192.0.2.10`
        (IP TTL 64) asks its resolver `198.51.100.53` over UDP; every genuine answer arrives after
        22–26 ms with IP TTL \(resolverTTL) and incrementing IP IDs (from `0x3e01`).

        | frames | what |
        |---|---|
        | 1–2 | ARP for the router |
        | 3–10 | baseline lookups: `example.com` A and AAAA, `example.net` A, `www.example.com` A |
        | {{inj-query}} | query `www.example.org` A, txid `0x4f2c`, client port 40112 |
        | {{inj-forged}} | **forged** answer `\(forgedAnswer)` (RR TTL 300), 2.137 ms after the query, IP TTL \(injectorTTL), IP ID 0, no DF, no EDNS |
        | {{inj-genuine}} | genuine answer `\(exampleV4)` (RR TTL 1800), 25.731 ms after the query, IP TTL \(resolverTTL), IP ID `0x\(String(genuineID, radix: 16))` |
        | {{tcp-syn}}… | DNS over TCP, client port 41234: `example.com` TXT; query in frame {{tcp-query}}, the answer split over frames {{tcp-answer-1}} and {{tcp-answer-2}} (completed in {{tcp-answer-2}}) |
        | {{unsolicited}} | **unsolicited** response, txid `0xbeef`, `login.example.net` A → `\(unsolicitedAnswer)` (IP TTL \(injectorTTL)), sent to port 53015 while the query in frame {{last-query}} (txid `0x1a2f`, `example.org` A) is outstanding: a txid and a question never asked on that flow; the genuine answer follows |

        `dnsaudit analyze captures/dns-injection.pcap` should report exactly:

        - `dns.injection` — subject `qname` `www.example.org`, `qtype` `A`, `transport` `udp`,
          `resolver` `198.51.100.53`, `client` `192.0.2.10`, `client_port` 40112; evidence frames
          {{inj-query}}, {{inj-forged}}, {{inj-genuine}}: the two answers (`\(forgedAnswer)` vs
          `\(exampleV4)`), IP TTL \(injectorTTL) vs \(resolverTTL) (a difference of \(Int(injectorTTL) - Int(resolverTTL)); the
          resolver's baseline is \(resolverTTL) in every other answer), IP ID 0 vs `0x\(String(genuineID, radix: 16))`,
          arrival 2.137 ms vs 25.731 ms after the query (the forged one far below half the
          resolver's ~24 ms RTT).
        - `dns.unsolicited-response` — frame {{unsolicited}}, txid `0xbeef`, `login.example.net` A, on the
          client's flow `192.0.2.10:53015` ↔ `198.51.100.53:53` (a response on a flow that did
          ask, with the wrong txid — not a capture that missed a query).

        Nothing about the DNS-over-TCP lookup or the other lookups.

        """
        return s
    }

    // MARK: 2. dns-clean.pcap

    static func clean() throws -> Script {
        var s = Script()
        let c4 = client4(), r4 = resolver4(), c6 = client6(), r6 = resolver6()
        try lookup(&s, at: 0, rttMs: 21.704, client: c4, resolver: r4, sport: 50001, id: 0x2a01,
                   name: "example.com", type: RRType.a, answers: [.init(name: "example.com", ttl: 3_600, data: .a(exampleV4))])
        try lookup(&s, at: 40.2, rttMs: 22.318, client: c4, resolver: r4, sport: 50002, id: 0x2a02,
                   name: "example.com", type: RRType.aaaa,
                   answers: [.init(name: "example.com", ttl: 3_600, data: .aaaa(exampleV6))])
        try lookup(&s, at: 100.7, rttMs: 19.822, client: c6, resolver: r6, sport: 50003, id: 0x2a03,
                   name: "www.example.org", type: RRType.aaaa,
                   answers: [.init(name: "www.example.org", ttl: 1_800, data: .aaaa(exampleV6))], labels: ("v6", nil))
        try lookup(&s, at: 150.1, rttMs: 20.415, client: c6, resolver: r6, sport: 50004, id: 0x2a04,
                   name: "example.net", type: RRType.a, answers: [.init(name: "example.net", ttl: 1_921, data: .a(exampleV4))])
        try lookup(&s, at: 300.5, rttMs: 24.217, client: c4, resolver: r4, sport: 50005, id: 0x2a05,
                   name: "doesnotexist.example.com", type: RRType.a, answers: [], rcode: 3,
                   authority: [.init(name: "example.com", ttl: 3_600,
                                     data: .soa(mname: "ns.icann.org", rname: "noc.dns.icann.org", serial: 2_026_011_501,
                                                refresh: 7_200, retry: 3_600, expire: 1_209_600, minimum: 3_600))],
                   labels: (nil, "nxdomain"))
        try lookup(&s, at: 400.9, rttMs: 26.833, client: c4, resolver: r4, sport: 50006, id: 0x2a06,
                   name: "static.example.com", type: RRType.a, answers: [
                       .init(name: "static.example.com", ttl: 300, data: .cname("static.example.com.cdn.example.net")),
                       .init(name: "static.example.com.cdn.example.net", ttl: 60, data: .cname("edge-17.cdn.example.net")),
                       .init(name: "edge-17.cdn.example.net", ttl: 20, data: .a(cdnV4a)),
                       .init(name: "edge-17.cdn.example.net", ttl: 20, data: .a(cdnV4b)),
                   ], labels: (nil, "cname"))

        // A lost-looking answer: the client retries the same query (same txid and port) after
        // 200 ms, and the resolver answers both — two byte-identical DNS responses.
        let name = "www.example.net"
        let q = try DNSPayloads.query(id: 0x2a07, name: name, type: RRType.a)
        let r = try DNSPayloads.response(id: 0x2a07, name: name, type: RRType.a,
                                         answers: [.init(name: name, ttl: 2_400, data: .a(exampleV4))])
        s.dns(600.3, c4.udp(50007, to: r4, 53, q), "retry-1")
        s.dns(800.3, c4.udp(50007, to: r4, 53, q), "retry-2")
        s.dns(824.226, r4.udp(53, to: c4, 50007, r), "dup-1")
        s.dns(826.905, r4.udp(53, to: c4, 50007, r), "dup-2")

        try lookup(&s, at: 1_000.2, rttMs: 23.104, client: c4, resolver: r4, sport: 50008, id: 0x2a08,
                   name: "www.example.com", type: RRType.https, answers: [
                       .init(name: "www.example.com", ttl: 3_600,
                             data: .https(priority: 1, target: ".", alpn: ["h2", "h3"], ipv4hint: [exampleV4],
                                          ipv6hint: [exampleV6])),
                   ], labels: (nil, "https"))
        try lookup(&s, at: 1_100.6, rttMs: 21.009, client: c6, resolver: r6, sport: 50009, id: 0x2a09,
                   name: "example.org", type: RRType.txt,
                   answers: [.init(name: "example.org", ttl: 86_400, data: .txt(["v=spf1 -all"]))])

        s.text = """
        ## dns-clean.pcap — normal lookups, nothing to report

        {{packets}} packets, {{bytes}} bytes, {{dns_messages}} DNS messages over UDP: client
        `192.0.2.10` → `198.51.100.53` (IP TTL \(resolverTTL)) and `2001:db8:10::10` →
        `2001:db8:53::53` (hop limit 58, from frame {{v6}}).

        - A, AAAA, HTTPS (frame {{https}}: `1 . alpn=h2,h3 ipv4hint=…`) and TXT lookups over IPv4 and IPv6;
        - NXDOMAIN for `doesnotexist.example.com` with the zone's SOA in the authority section (frame {{nxdomain}});
        - a CNAME chain `static.example.com` → `static.example.com.cdn.example.net` →
          `edge-17.cdn.example.net` → two A records (frame {{cname}});
        - a retried query (frames {{retry-1}} and {{retry-2}}: same txid `0x2a07`, same port) answered
          twice with **byte-identical** responses (frames {{dup-1}} and {{dup-2}}, same IP TTL) — a
          retransmission, which must **not** count as injection.

        `dnsaudit analyze captures/dns-clean.pcap` should report no finding (exit code 0).

        """
        return s
    }

    // MARK: 3. dns-tcp-fragments.pcap

    static func tcpAndFragments() throws -> Script {
        var s = Script()
        let c4 = client4(), r4 = resolver4(), c6 = client6(), r6 = resolver6()
        var conv = c4.tcp(42001, to: r4, 53, clientISN: 0x0bad_cafe, serverISN: 0x5eed_0001)
        let hs = conv.handshake()
        s.timeline.at(0, hs[0], "syn")
        s.timeline.at(22.104, hs[1])
        s.timeline.at(22.160, hs[2])

        // Two queries in one segment, two responses in one segment.
        let q1 = try DNSPayloads.query(id: 0x3b01, name: "example.com", type: RRType.a)
        let q2 = try DNSPayloads.query(id: 0x3b02, name: "example.com", type: RRType.aaaa)
        let r1 = try DNSPayloads.response(id: 0x3b01, name: "example.com", type: RRType.a,
                                          answers: [.init(name: "example.com", ttl: 3_600, data: .a(exampleV4))])
        let r2 = try DNSPayloads.response(id: 0x3b02, name: "example.com", type: RRType.aaaa,
                                          answers: [.init(name: "example.com", ttl: 3_600, data: .aaaa(exampleV6))])
        for f in conv.send(DNSPayloads.tcpFramed(q1) + DNSPayloads.tcpFramed(q2), from: .client) {
            s.dns(22.250, f, "two-queries", messages: 2)
        }
        for f in conv.send(DNSPayloads.tcpFramed(r1) + DNSPayloads.tcpFramed(r2), from: .server) {
            s.dns(44.871, f, "two-responses", messages: 2)
        }
        s.timeline.at(44.930, conv.ack(from: .client))

        // One response over three segments, delivered 1, 3, 2 — and 2 again after a timeout.
        let big = "example.org"
        let q3 = try DNSPayloads.query(id: 0x3b03, name: big, type: RRType.txt)
        let r3 = try DNSPayloads.response(id: 0x3b03, name: big, type: RRType.txt,
                                          answers: longTXT(owner: big, strings: 4, length: 200))
        for f in conv.send(DNSPayloads.tcpFramed(q3), from: .client) { s.dns(60.002, f, "big-query") }
        let framed = DNSPayloads.tcpFramed(r3)
        let third = framed.count / 3
        let parts = conv.send(framed, from: .server, splitAt: [third, third])
        s.timeline.at(82.511, parts[0], "seg-1")
        s.timeline.at(82.590, parts[2], "seg-3-early")
        // Duplicate ACK: the client still waits for segment 2.
        s.timeline.at(82.640, conv.segment(from: .client, seq: conv.clientNextSeq,
                                           ack: conv.serverNextSeq &- UInt32(framed.count - third), flags: .ack))
        s.dns(82.803, parts[1], "seg-2")
        s.timeline.at(82.860, conv.ack(from: .client))
        s.timeline.at(290.125, parts[1], "seg-2-retransmitted")
        s.timeline.at(290.190, conv.ack(from: .client))
        let fin = conv.close(initiator: .client)
        s.timeline.at(400.0, fin[0])
        s.timeline.at(422.2, fin[1])
        s.timeline.at(422.26, fin[2])
        c4.sync(client: conv, server: r4)

        // A large UDP answer in two IPv4 fragments (MTU 1500).
        let txtName = "big.example.com"
        let q4 = try DNSPayloads.query(id: 0x3b04, name: txtName, type: RRType.txt, ednsSize: 4096)
        let r4msg = try DNSPayloads.response(id: 0x3b04, name: txtName, type: RRType.txt,
                                             answers: longTXT(owner: txtName, strings: 9, length: 200), ednsSize: 4096)
        s.dns(500.0, c4.udp(50501, to: r4, 53, q4), "frag4-query")
        r4.dontFragment = false
        let fragID = r4.ipID
        let datagram = r4.udp(53, to: c4, 50501, r4msg)
        let v4frags = try IPv4Fragmenter.fragment(Array(datagram[14...]), maxPayload: 1_480)
        s.timeline.at(523.402, r4.link(to: c4).frame(ipPacket: v4frags[0]), "frag4-1")
        s.dns(523.451, r4.link(to: c4).frame(ipPacket: v4frags[1]), "frag4-2")

        // The same over IPv6, with a Fragment extension header.
        let q5 = try DNSPayloads.query(id: 0x3b05, name: txtName, type: RRType.txt, ednsSize: 4096)
        let r5msg = try DNSPayloads.response(id: 0x3b05, name: txtName, type: RRType.txt,
                                             answers: longTXT(owner: txtName, strings: 9, length: 200), ednsSize: 4096)
        s.dns(600.0, c6.udp(50502, to: r6, 53, q5), "frag6-query")
        let packet6 = Array(r6.udp(53, to: c6, 50502, r5msg)[14...])
        let v6frags = try IPv6Fragmenter.fragment(packet6, maxPayload: 1_448, identification: 0x5a5a_0001)
        s.timeline.at(621.033, r6.link(to: c6).frame(ipPacket: v6frags[0]), "frag6-1")
        s.dns(621.080, r6.link(to: c6).frame(ipPacket: v6frags[1]), "frag6-2")

        s.text = """
        ## dns-tcp-fragments.pcap — reassembly: TCP streams and IP fragments

        {{packets}} packets, {{bytes}} bytes, {{dns_messages}} DNS messages, all genuine.

        - DNS over TCP, `192.0.2.10:42001` → `198.51.100.53:53` (handshake from frame {{syn}}):
          - frame {{two-queries}}: **two queries in one segment** (`example.com` A `0x3b01`, AAAA `0x3b02`);
          - frame {{two-responses}}: **two responses in one segment**;
          - frame {{big-query}}: query `example.org` TXT `0x3b03`; its {{r3size}}-byte answer is cut into
            **three segments**, captured in the order 1 (frame {{seg-1}}), 3 (frame {{seg-3-early}},
            **out of order**; the client's ACK still asks for segment 2), 2 (frame {{seg-2}}, which completes the
            message), and segment 2 once more (frame {{seg-2-retransmitted}}, a **retransmission**
            that must not yield a second message).
        - UDP over IPv4: query `big.example.com` TXT `0x3b04` (frame {{frag4-query}}, EDNS 4096); the
          answer is one UDP datagram in **two IPv4 fragments** (frames {{frag4-1}} and {{frag4-2}},
          IP ID `0x\(String(fragID, radix: 16))`, DF clear), reassembled at frame {{frag4-2}}.
        - UDP over IPv6: the same lookup `0x3b05` from `2001:db8:10::10` (frame {{frag6-query}}); the
          answer comes in **two fragments with an IPv6 Fragment header** (identification
          `0x5a5a0001`, frames {{frag6-1}} and {{frag6-2}}), reassembled at frame {{frag6-2}}.

        `dnsaudit analyze captures/dns-tcp-fragments.pcap` should report no finding; `dnsaudit decode`
        should print one line per DNS message ({{dns_messages}} lines), each big answer once, at the
        frame that completed it.

        """.replacingAll("{{r3size}}", with: String(r3.count))
        return s
    }

    /// TXT records with `strings` character-strings of `length` bytes each (deterministic text).
    static func longTXT(owner: String, strings: Int, length: Int) -> [DNSRecordSpec] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var parts: [String] = []
        for i in 0..<strings {
            var chars = Array("part\(i)=")
            var x = UInt32(truncatingIfNeeded: i &* 2_654_435_761 &+ 12_345)
            while chars.count < length {
                x = x &* 1_103_515_245 &+ 12_345
                chars.append(alphabet[Int((x >> 16) & 63)])
            }
            parts.append(String(chars))
        }
        return [DNSRecordSpec(name: owner, ttl: 3_600, data: .txt(parts))]
    }

    // MARK: README

    static let readmeHeader = """
    # Demo captures

    Written by `dnsaudit-gen demo --out captures/` — byte-identical on every run (fixed
    timestamps from 2026-01-15T09:00:00Z, nanosecond pcap, Ethernet link type). Only documentation
    addresses are used for the hosts: client `192.0.2.10` / `2001:db8:10::10` (MAC
    `02:00:00:00:00:0a`), router `192.0.2.1` (MAC `02:00:00:00:00:01`), resolver `198.51.100.53` /
    `2001:db8:53::53`; the injected answers point into `203.0.113.0/24`. Frame numbers are
    1-based, as tshark and Wireshark count. Every checksum is valid (check with
    `tshark -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE`).


    """

    static let readmeFooter = """

    ## Regenerating

    ```sh
    swift run dnsaudit-gen demo --out captures/
    git diff --stat captures/    # nothing changes unless the generator changed
    ```

    For a large benchmark capture use `dnsaudit-gen mix --packets 5000000 --out /tmp/mix.pcap`
    (not committed).

    """

    static func writeText(_ text: String, to path: String) throws {
        guard let f = fopen(path, "wb") else { throw GenError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(f) }
        let bytes = Array(text.utf8)
        guard fwrite(bytes, 1, bytes.count, f) == bytes.count else { throw GenError("cannot write \(path)") }
    }
}

extension String {
    /// Replaces every occurrence of `target` (no Foundation needed).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        let src = Array(utf8), pat = Array(target.utf8), rep = Array(replacement.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(src.count)
        var i = 0
        while i < src.count {
            if i + pat.count <= src.count && src[i] == pat[0] && Array(src[i..<(i + pat.count)]) == pat {
                out += rep
                i += pat.count
            } else {
                out.append(src[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
