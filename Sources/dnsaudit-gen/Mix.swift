// `dnsaudit-gen mix`: a realistic packet mix for benchmarks, streamed to the writer.
//
// Flows start one after another at a pace that gives ~50k packets/s; each flow schedules its
// packets (relative to its start) into a min-heap ordered by time, and the heap is drained in
// time order as the start clock moves on. Memory is bounded by the packets of the flows in
// flight (a few hundred milliseconds of traffic), not by N.

import PacketSynth
import PcapWriter
import TLSWire

struct MixSummary {
    var packets: Int
    var bytes: Int
    var byKind: [(String, Int)]
}

final class MixGenerator {
    enum Kind: Int, CaseIterable {
        case dnsUDP, dnsTCP, tls, quic, http, ntp, arp, icmp

        var name: String {
            switch self {
            case .dnsUDP: return "dns-udp"
            case .dnsTCP: return "dns-tcp"
            case .tls: return "tls"
            case .quic: return "quic"
            case .http: return "http"
            case .ntp: return "ntp"
            case .arp: return "arp"
            case .icmp: return "icmp"
            }
        }

        /// Target share of packets.
        var share: Double {
            switch self {
            case .dnsUDP: return 0.35
            case .dnsTCP: return 0.05
            case .tls: return 0.25
            case .quic: return 0.05
            case .http: return 0.18
            case .ntp: return 0.04
            case .arp: return 0.04
            case .icmp: return 0.04
            }
        }
    }

    /// A scheduled packet: a plain value (no reference counting in heap moves); the frame
    /// itself waits in `slots`.
    struct Pending: Comparable {
        var t: Int64
        var seq: UInt64
        var slot: Int32
        var kind: UInt8

        static func < (l: Pending, r: Pending) -> Bool { l.t != r.t ? l.t < r.t : l.seq < r.seq }
        static func == (l: Pending, r: Pending) -> Bool { l.t == r.t && l.seq == r.seq }
    }

    struct DNSTemplate {
        var query: [UInt8]
        var response: [UInt8]
    }

    let target: Int
    let meanGapNs: Double
    var rng: SplitMix64
    private var heap = MinHeap<Pending>()
    private var slots: [[UInt8]] = []
    private var freeSlots: [Int32] = []
    private var seq: UInt64 = 0
    private var scheduled = [Int](repeating: 0, count: Kind.allCases.count)
    private var scheduledTotal = 0
    private var kind: Kind = .dnsUDP
    /// Called with each written packet's frame number (1-based) and kind (`--truth`).
    var onWrite: ((Int, Kind) -> Void)?

    static let routerMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)
    let router = Node(.v4(IPv4Address(192, 0, 2, 1)), mac: MixGenerator.routerMAC, ttl: 64, ipID: 1)
    let clientsV4: [Node]
    let clientsV6: [Node]
    let resolversV4: [Node]
    let resolversV6: [Node]
    let serversV4: [Node]
    let serversV6: [Node]
    let ntpV4: Node
    let ntpV6: Node
    var names: [String] = []
    var templates: [DNSTemplate] = []

    init(packets: Int, seed: UInt64, packetsPerSecond: Int) {
        target = packets
        meanGapNs = 1e9 / Double(max(1, packetsPerSecond))
        rng = SplitMix64(seed: seed)
        var r = SplitMix64(seed: seed ^ 0x5eed_0f_a11)
        let rmac = MixGenerator.routerMAC
        clientsV4 = (0..<240).map { i in
            Node(.v4(IPv4Address(192, 0, 2, UInt8(10 + i))), mac: MACAddress(0x02, 0, 0, 0, 0x10, UInt8(i)),
                 ttl: r.chance(0.8) ? 64 : 128, ipID: r.uint16())
        }
        clientsV6 = (0..<100).map { i in
            Node(.v6(IPv6Address(groups: [0x2001, 0xdb8, 0x10, 0, 0, 0, 0, UInt16(0x100 + i)])),
                 mac: MACAddress(0x02, 0, 0, 0, 0x16, UInt8(i)), ttl: 64, ipID: 0)
        }
        resolversV4 = [IPv4Address(198, 51, 100, 53), IPv4Address(198, 51, 100, 54)].map {
            Node(.v4($0), mac: rmac, ttl: 57, ipID: r.uint16())
        }
        resolversV6 = [Node(.v6(IPv6Address(groups: [0x2001, 0xdb8, 0x53, 0, 0, 0, 0, 0x53])), mac: rmac, ttl: 58, ipID: 0)]
        serversV4 = (0..<1_000).map { i in
            let a: IPv4Address = i < 254 ? IPv4Address(203, 0, 113, UInt8(1 + i))
                : IPv4Address(198, 51, 100, UInt8(100 + (i % 150)))
            return Node(.v4(a), mac: rmac, ttl: UInt8(40 + r.int(below: 20)), ipID: r.uint16(),
                        ipIDStep: r.chance(0.3) ? 0 : 1)
        }
        serversV6 = (0..<300).map { i in
            Node(.v6(IPv6Address(groups: [0x2001, 0xdb8, 0x443, UInt16(i >> 4), 0, 0, 0, UInt16(1 + i)])), mac: rmac,
                 ttl: UInt8(44 + r.int(below: 16)), ipID: 0)
        }
        ntpV4 = Node(.v4(IPv4Address(203, 0, 113, 123)), mac: rmac, ttl: 52, ipID: 0, ipIDStep: 0)
        ntpV6 = Node(.v6(IPv6Address(groups: [0x2001, 0xdb8, 0x123, 0, 0, 0, 0, 0x123])), mac: rmac, ttl: 52, ipID: 0)
    }

    // MARK: Running

    func run(writer: PcapFileWriter) throws -> MixSummary {
        try prepareDNS()
        var emitted = 0
        var written = [Int](repeating: 0, count: Kind.allCases.count)
        while emitted < target {
            if scheduledTotal < target, heap.first.map({ $0.t > nextStart }) ?? true {
                startFlow(at: nextStart)
                continue
            }
            guard let p = heap.pop() else { break }
            let slot = Int(p.slot)
            try writer.write(seconds: captureEpochSeconds + p.t / 1_000_000_000,
                             nanoseconds: UInt32(p.t % 1_000_000_000), frame: slots[slot])
            slots[slot] = []
            freeSlots.append(p.slot)
            emitted += 1
            written[Int(p.kind)] += 1
            if let onWrite, let k = Kind(rawValue: Int(p.kind)) { onWrite(emitted, k) }
        }
        try writer.flush()
        return MixSummary(packets: writer.packetsWritten, bytes: writer.bytesWritten,
                          byKind: Kind.allCases.map { ($0.name, written[$0.rawValue]) })
    }

    /// Picks the kind furthest below its share and schedules one flow of it.
    private func startFlow(at start: Int64) {
        var best = Kind.dnsUDP
        var bestDeficit = -Double.infinity
        for k in Kind.allCases {
            let deficit = k.share * Double(scheduledTotal + 1) - Double(scheduled[k.rawValue])
            if deficit > bestDeficit {
                best = k
                bestDeficit = deficit
            }
        }
        kind = best
        let before = scheduledTotal
        switch best {
        case .dnsUDP: dnsUDPFlow(start)
        case .dnsTCP: dnsTCPFlow(start)
        case .tls: tlsFlow(start)
        case .quic: quicFlow(start)
        case .http: httpFlow(start)
        case .ntp: ntpFlow(start)
        case .arp: arpFlow(start)
        case .icmp: icmpFlow(start)
        }
        let n = max(1, scheduledTotal - before)
        nextStart = start + Int64(Double(n) * meanGapNs * (0.5 + rng.unit()))
    }

    private var nextStart: Int64 = 0

    @inline(__always) private func emit(_ t: Int64, _ frame: [UInt8]) {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(free)] = frame
        } else {
            slot = Int32(truncatingIfNeeded: slots.count)
            slots.append(frame)
        }
        heap.push(Pending(t: t, seq: seq, slot: slot, kind: UInt8(kind.rawValue)))
        seq &+= 1
        scheduled[kind.rawValue] += 1
        scheduledTotal += 1
    }

    // MARK: Populations

    private func client(v6: Bool) -> Node {
        v6 ? clientsV6[rng.int(below: clientsV6.count)] : clientsV4[rng.int(below: clientsV4.count)]
    }

    private func server(v6: Bool) -> Node {
        v6 ? serversV6[rng.int(below: serversV6.count)] : serversV4[rng.int(below: serversV4.count)]
    }

    private func ephemeralPort() -> UInt16 { UInt16(32_768 + rng.int(below: 28_232)) }

    private func ms(_ lo: Double, _ hi: Double) -> Int64 { Int64((lo + (hi - lo) * rng.unit()) * 1e6) }

    /// Internet-like RTT: mostly 8–60 ms, sometimes up to 200 ms.
    private func internetRTT() -> Int64 { rng.chance(0.9) ? ms(8, 60) : ms(60, 200) }

    // MARK: DNS names and templates

    static let prefixes = ["www", "api", "cdn", "static", "img", "mail", "login", "app", "m", "assets", "edge", "video",
                           "news", "shop", "docs", "auth", "files", "ws", "push", "metrics", "accounts", "media",
                           "beacon", "update", "telemetry"]
    static let words = ["example", "acme", "contoso", "fabrikam", "northwind", "globex", "initech", "umbrella", "stark",
                        "wayne", "hooli", "piedpiper", "vandelay", "tyrell", "cyberdyne", "soylent", "wonka", "oscorp",
                        "aperture", "blackmesa", "massive", "dynamic", "pixel", "cloudy", "streamly"]
    static let tlds = ["com", "net", "org", "io", "de", "co.uk", "fr", "jp", "app", "dev"]

    static func name(_ i: Int) -> String {
        let p = prefixes[i % prefixes.count]
        let w = words[(i / prefixes.count) % words.count]
        let t = tlds[(i / (prefixes.count * words.count)) % tlds.count]
        let k = i / (prefixes.count * words.count * tlds.count)
        return "\(p).\(w)\(k == 0 ? "" : String(k)).\(t)"
    }

    /// Builds the pool of (query, response) pairs; flows reuse them with fresh txids.
    private func prepareDNS() throws {
        let poolSize = min(20_000, max(256, target / 8))
        names = (0..<poolSize).map { MixGenerator.name($0) }
        templates.reserveCapacity(poolSize)
        var r = SplitMix64(seed: rng.next())
        for (i, name) in names.enumerated() {
            let roll = r.unit()
            let type: UInt16 = roll < 0.45 ? RRType.a : roll < 0.78 ? RRType.aaaa : roll < 0.92 ? RRType.https
                : RRType.txt
            let edns: UInt16? = r.chance(0.8) ? 1232 : nil
            var answers: [DNSRecordSpec] = []
            var authority: [DNSRecordSpec] = []
            var rcode: UInt16 = 0
            var owner = name
            if r.chance(0.03) {
                rcode = 3
                let zone = String(name.split(separator: ".", maxSplits: 1).last ?? "example.com")
                authority = [DNSRecordSpec(name: zone, ttl: 900, data: .soa(
                    mname: "ns1.\(zone)", rname: "hostmaster.\(zone)", serial: 2_026_010_000 + UInt32(i % 100),
                    refresh: 7_200, retry: 900, expire: 1_209_600, minimum: 300))]
            } else {
                if (type == RRType.a || type == RRType.aaaa) && r.chance(0.25) {
                    let target = "\(name).cdn\(r.int(below: 9)).example.net"
                    answers.append(DNSRecordSpec(name: owner, ttl: UInt32(60 + r.int(below: 3_540)), data: .cname(target)))
                    owner = target
                }
                let ttl = UInt32(20 + r.int(below: 3_580))
                switch type {
                case RRType.a:
                    for _ in 0..<(1 + r.int(below: 4)) {
                        answers.append(DNSRecordSpec(name: owner, ttl: ttl, data: .a(serversV4[r.int(below: serversV4.count)].ipV4)))
                    }
                case RRType.aaaa:
                    for _ in 0..<(1 + r.int(below: 2)) {
                        answers.append(DNSRecordSpec(name: owner, ttl: ttl, data: .aaaa(serversV6[r.int(below: serversV6.count)].ipV6)))
                    }
                case RRType.https:
                    answers.append(DNSRecordSpec(name: owner, ttl: ttl, data: .https(
                        priority: 1, target: ".", alpn: r.chance(0.6) ? ["h3", "h2"] : ["h2"],
                        ipv4hint: [serversV4[r.int(below: serversV4.count)].ipV4],
                        ipv6hint: r.chance(0.5) ? [serversV6[r.int(below: serversV6.count)].ipV6] : [])))
                default:
                    var strings = ["v=spf1 include:_spf.\(name) ~all"]
                    if r.chance(0.5) { strings.append("google-site-verification=\(hexString(r.bytes(16)))") }
                    for s in strings { answers.append(DNSRecordSpec(name: owner, ttl: ttl, data: .txt([s]))) }
                }
            }
            let q = try DNSPayloads.query(id: 0, name: name, type: type, ednsSize: edns)
            let resp = try DNSPayloads.response(id: 0, name: name, type: type, rcode: rcode, answers: answers,
                                                authority: authority, ednsSize: edns)
            templates.append(DNSTemplate(query: q, response: resp))
        }
    }

    private func hexString(_ b: [UInt8]) -> String {
        let d = Array("0123456789abcdef")
        return String(b.flatMap { [d[Int($0 >> 4)], d[Int($0 & 15)]] })
    }

    // MARK: Flows

    private func dnsUDPFlow(_ t0: Int64) {
        let v6 = rng.chance(0.3)
        let c = client(v6: v6)
        let res = v6 ? resolversV6[0] : resolversV4[rng.int(below: resolversV4.count)]
        guard let tpl = rng.pick(templates) else { return }
        let id = rng.uint16()
        let port = ephemeralPort()
        emit(t0, c.udp(port, to: res, 53, DNSPayloads.withID(tpl.query, id)))
        guard !rng.chance(0.02) else { return }   // unanswered
        let rtt = rng.chance(0.6) ? ms(0.3, 3) : ms(10, 80)
        emit(t0 + rtt, res.udp(53, to: c, port, DNSPayloads.withID(tpl.response, id)))
    }

    private func dnsTCPFlow(_ t0: Int64) {
        let v6 = rng.chance(0.3)
        let c = client(v6: v6)
        let res = v6 ? resolversV6[0] : resolversV4[rng.int(below: resolversV4.count)]
        guard let tpl = rng.pick(templates) else { return }
        let id = rng.uint16()
        let rtt = ms(5, 40)
        var conv = c.tcp(ephemeralPort(), to: res, 53, clientISN: rng.uint32(), serverISN: rng.uint32())
        var t = t0
        let hs = conv.handshake()
        emit(t, hs[0]); t += rtt
        emit(t, hs[1]); t += 40_000
        emit(t, hs[2]); t += 15_000
        for f in conv.send(DNSPayloads.tcpFramed(DNSPayloads.withID(tpl.query, id)), from: .client) { emit(t, f) }
        t += rtt / 2
        let queries = rng.chance(0.3) ? 2 : 1
        for f in conv.send(DNSPayloads.tcpFramed(DNSPayloads.withID(tpl.response, id)), from: .server) { emit(t, f); t += 12_000 }
        if queries == 2, let second = rng.pick(templates) {
            let id2 = rng.uint16()
            t += 100_000
            for f in conv.send(DNSPayloads.tcpFramed(DNSPayloads.withID(second.query, id2)), from: .client) { emit(t, f) }
            t += rtt / 2
            for f in conv.send(DNSPayloads.tcpFramed(DNSPayloads.withID(second.response, id2)), from: .server) {
                emit(t, f); t += 12_000
            }
        }
        emit(t + 40_000, conv.ack(from: .client))
        t += 1_000_000
        let fin = conv.close(initiator: .client)
        emit(t, fin[0]); t += rtt
        emit(t, fin[1]); t += 30_000
        emit(t, fin[2])
        c.sync(client: conv, server: res)
    }

    private func tlsFlow(_ t0: Int64) {
        let v6 = rng.chance(0.25)
        let c = client(v6: v6)
        let s = server(v6: v6)
        let rtt = internetRTT()
        var conv = c.tcp(ephemeralPort(), to: s, 443, clientISN: rng.uint32(), serverISN: rng.uint32())
        var t = t0
        let hs = conv.handshake()
        emit(t, hs[0]); t += rtt
        emit(t, hs[1]); t += 50_000
        emit(t, hs[2]); t += 20_000
        let sni = names.isEmpty ? "www.example.com" : names[rng.int(below: names.count)]
        let hello = TLSRecords.clientHello(serverName: sni, rng: &rng)
        for f in conv.send(hello, from: .client) { emit(t, f) }
        t += rtt
        // Server flight: ServerHello, CCS, encrypted extensions + certificate + verify + finished.
        var flight = TLSRecords.serverHello(sessionID: TLSRecords.sessionID(ofClientHello: hello), rng: &rng)
        flight += TLSRecords.changeCipherSpec
        flight += TLSRecords.applicationData(length: 2_000 + rng.int(below: 3_000), rng: &rng)
        t = burst(&conv, flight, from: .server, at: t)
        // Client finished + request.
        var request = TLSRecords.changeCipherSpec + TLSRecords.applicationData(length: 53, rng: &rng)
        request += TLSRecords.applicationData(length: 150 + rng.int(below: 600), rng: &rng)
        for f in conv.send(request, from: .client) { emit(t, f) }
        t += rtt
        // Responses: a few request/response rounds.
        for round in 0..<(1 + rng.int(below: 3)) {
            let size = rng.chance(0.7) ? 200 + rng.int(below: 4_000) : 4_000 + rng.int(below: 16_000)
            var records: [UInt8] = []
            var left = size
            while left > 0 {
                let n = min(left, 16_384)
                records += TLSRecords.applicationData(length: n, rng: &rng)
                left -= n
            }
            t = burst(&conv, records, from: .server, at: t)
            if round > 0 || rng.chance(0.5) {
                t += ms(1, 30)
                for f in conv.send(TLSRecords.applicationData(length: 40 + rng.int(below: 400), rng: &rng), from: .client) {
                    emit(t, f)
                }
                t += rtt
            }
        }
        t += ms(5, 200)
        if rng.chance(0.1) {
            emit(t, conv.reset(from: .client))
        } else {
            let fin = conv.close(initiator: .client)
            emit(t, fin[0]); t += rtt
            emit(t, fin[1]); t += 30_000
            emit(t, fin[2])
        }
        c.sync(client: conv, server: s)
    }

    /// Sends `data` from `side` in bursts of up to 8 segments, each acknowledged by the other side.
    private func burst(_ conv: inout TCPConversation, _ data: [UInt8], from side: TCPConversation.Side,
                       at start: Int64) -> Int64 {
        var t = start
        var offset = 0
        let chunk = 8 * conv.segmentSize
        while offset < data.count {
            let end = min(offset + chunk, data.count)
            for f in conv.send(Array(data[offset..<end]), from: side) {
                emit(t, f)
                t += 12_000
            }
            t += 30_000
            emit(t, conv.ack(from: side.other))
            t += 10_000
            offset = end
        }
        return t
    }

    private func quicFlow(_ t0: Int64) {
        let v6 = rng.chance(0.3)
        let c = client(v6: v6)
        let s = server(v6: v6)
        let port = ephemeralPort()
        let rtt = internetRTT()
        let dcid = rng.bytes(8)
        let scid = rng.bytes(8)
        func long(_ type: UInt8, _ size: Int, _ d: [UInt8], _ sc: [UInt8]) -> [UInt8] {
            // first byte (type, 4-byte packet number), version 1, connection IDs, token (Initial),
            // a 2-byte varint Length covering the rest; the protected part is random.
            var p: [UInt8] = [0xc3 | (type << 4)]
            p += [0, 0, 0, 1, UInt8(d.count)] + d + [UInt8(sc.count)] + sc
            if type == 0 { p.append(0) }
            let rest = max(20, size - p.count - 2)
            p += [0x40 | UInt8(truncatingIfNeeded: rest >> 8), UInt8(truncatingIfNeeded: rest)]
            p += rng.bytes(rest)
            return p
        }
        func short(_ size: Int, _ d: [UInt8]) -> [UInt8] {
            var p: [UInt8] = [0x40 | UInt8(rng.int(below: 64))]
            p += d
            p += rng.bytes(max(0, size - p.count))
            return p
        }
        // The client's first Initial is real (RFC 9001 protection with the keys its DCID gives, a
        // CRYPTO frame with a Chrome-like ClientHello, padded to 1 252 bytes), as a passive
        // observer sees it: analysis decrypts it and reads the server name. The rest is random.
        let sni = names.isEmpty ? "www.example.com" : names[rng.int(below: names.count)]
        let hello = Array(TLSRecords.clientHello(serverName: sni, alpn: ["h3"], rng: &rng).dropFirst(5))
        let crypto: [UInt8] = [0x06, 0x00, 0x40 | UInt8(truncatingIfNeeded: hello.count >> 8),
                               UInt8(truncatingIfNeeded: hello.count)] + hello
        let initial = QUICInitialKeys(version: QUICVersion.v1, initialDCID: dcid, side: .client)?
            .sealInitial(dcid: dcid, scid: scid, packetNumber: 0, frames: crypto, padTo: 1_252)
        var t = t0
        emit(t, c.udp(port, to: s, 443, initial ?? long(0, 1_252, dcid, scid))); t += rtt
        emit(t, s.udp(443, to: c, port, long(0, 1_252, scid, dcid))); t += 15_000
        emit(t, s.udp(443, to: c, port, long(2, 1_200 + rng.int(below: 52), scid, dcid))); t += 200_000
        emit(t, c.udp(port, to: s, 443, long(2, 90 + rng.int(below: 200), dcid, scid))); t += 100_000
        for _ in 0..<(4 + rng.int(below: 10)) {
            if rng.chance(0.65) {
                emit(t, s.udp(443, to: c, port, short(rng.chance(0.7) ? 1_252 : 40 + rng.int(below: 400), dcid)))
            } else {
                emit(t, c.udp(port, to: s, 443, short(35 + rng.int(below: 120), scid)))
            }
            t += ms(0.02, rtt > 20_000_000 ? 10 : 3)
        }
    }

    private func httpFlow(_ t0: Int64) {
        let c = client(v6: rng.chance(0.15))
        let s = server(v6: c.ip.isV6)
        let rtt = internetRTT()
        var conv = c.tcp(ephemeralPort(), to: s, 80, clientISN: rng.uint32(), serverISN: rng.uint32())
        var t = t0
        let hs = conv.handshake()
        emit(t, hs[0]); t += rtt
        emit(t, hs[1]); t += 50_000
        emit(t, hs[2]); t += 20_000
        let host = names.isEmpty ? "www.example.com" : names[rng.int(below: names.count)]
        let paths = ["/", "/index.html", "/favicon.ico", "/api/v1/status", "/static/app.js", "/images/logo.png",
                     "/generate_204", "/connecttest.txt", "/ncsi.txt"]
        let path = paths[rng.int(below: paths.count)]
        let req = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
            + "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"
        for f in conv.send(Array(req.utf8), from: .client) { emit(t, f) }
        t += rtt
        let bodyLength = rng.chance(0.3) ? 0 : 100 + rng.int(below: 12_000)
        let head = "HTTP/1.1 \(bodyLength == 0 ? "204 No Content" : "200 OK")\r\nServer: nginx\r\n"
            + "Content-Type: text/html; charset=utf-8\r\nContent-Length: \(bodyLength)\r\n\r\n"
        var body = Array(head.utf8)
        body.reserveCapacity(body.count + bodyLength)
        let filler = MixGenerator.htmlFiller
        var left = bodyLength
        while left > 0 {
            let n = min(left, filler.count)
            body += filler[0..<n]
            left -= n
        }
        t = burst(&conv, body, from: .server, at: t)
        t += ms(1, 100)
        let fin = conv.close(initiator: rng.chance(0.5) ? .client : .server)
        emit(t, fin[0]); t += rtt
        emit(t, fin[1]); t += 30_000
        emit(t, fin[2])
        c.sync(client: conv, server: s)
    }

    static let htmlFiller: [UInt8] = {
        var text = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Example</title></head><body>\n"
        while text.utf8.count < 4_096 { text += "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n" }
        return Array(text.utf8)
    }()

    private func ntpFlow(_ t0: Int64) {
        let v6 = rng.chance(0.2)
        let c = client(v6: v6)
        let s = v6 ? ntpV6 : ntpV4
        let port: UInt16 = rng.chance(0.5) ? 123 : ephemeralPort()
        var req = [UInt8](repeating: 0, count: 48)
        req[0] = 0x23   // LI 0, VN 4, mode 3 (client)
        req.replaceSubrange(40..<48, with: rng.bytes(8))
        emit(t0, c.udp(port, to: s, 123, req))
        var resp = [UInt8](repeating: 0, count: 48)
        resp[0] = 0x24  // mode 4 (server)
        resp[1] = 2     // stratum
        resp[2] = 3
        resp[3] = 0xe9
        resp.replaceSubrange(12..<16, with: [0xc0, 0x00, 0x02, 0x7b])
        resp.replaceSubrange(16..<24, with: rng.bytes(8))
        resp.replaceSubrange(24..<32, with: req[40..<48])   // origin = client's transmit
        resp.replaceSubrange(32..<48, with: rng.bytes(16))
        emit(t0 + ms(5, 40), s.udp(123, to: c, port, resp))
    }

    private func arpFlow(_ t0: Int64) {
        let c = clientsV4[rng.int(below: clientsV4.count)]
        guard let cip = c.ip.ipv4, let rip = router.ip.ipv4 else { return }
        let ask = FrameBuilder.ethernet(source: c.mac, destination: .broadcast)
        emit(t0, ask.arp(reply: false, senderMAC: c.mac, senderIP: cip, targetMAC: .zero, targetIP: rip))
        let answer = FrameBuilder.ethernet(source: router.mac, destination: c.mac)
        emit(t0 + ms(0.1, 1), answer.arp(reply: true, senderMAC: router.mac, senderIP: rip, targetMAC: c.mac,
                                         targetIP: cip))
    }

    private func icmpFlow(_ t0: Int64) {
        let v6 = rng.chance(0.4)
        let c = client(v6: v6)
        let s = server(v6: v6)
        let ident = rng.uint16()
        let payload = rng.bytes(56)
        let seqNo = UInt16(1 + rng.int(below: 20))
        emit(t0, c.link(to: s).icmpEcho(from: c.ip, to: s.ip, reply: false, identifier: ident, sequence: seqNo,
                                         payload: payload, ip: c.nextFields()))
        guard rng.chance(0.95) else { return }
        emit(t0 + internetRTT(), s.link(to: c).icmpEcho(from: s.ip, to: c.ip, reply: true, identifier: ident,
                                                         sequence: seqNo, payload: payload, ip: s.nextFields()))
    }
}

extension Node {
    var ipV4: IPv4Address {
        ip.ipv4 ?? IPv4Address(value: 0)
    }

    var ipV6: IPv6Address {
        ip.ipv6 ?? IPv6Address(high: 0, low: 0)
    }
}
