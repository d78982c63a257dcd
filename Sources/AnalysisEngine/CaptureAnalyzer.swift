import AnalysisEvents
import DNSAnalysis
import DNSObservations
import DNSWire
import Findings
import FlowReassembly
import NetTypes
import PacketDecode
import Foundation
import TLSAnalysis
import TLSCertificates
import TLSWire

#if canImport(Glibc)
import Glibc
#endif

/// Settings for one analysis run.
public struct AnalysisOptions: Sendable {
    /// BPF filter applied by libpcap before decoding.
    public var filter: String?
    /// Produce `DecodeEvent`s (costs a full parse of every message).
    public var wantDecode = false
    public var tcpLimits = TCPReassembler.Limits()
    public var fragmentLimits = IPFragmentReassembler.Limits()
    public var dnsLimits = DNSTransactionTracker.Limits()
    public var tlsLimits = TLSConnectionTracker.Limits()
    /// Keep the path's answer per (qname, qtype) for comparison with references (`--reference`).
    public var collectAnswers = false
    /// Trust for server certificates seen in the clear (TLS ≤ 1.2); nil: certificates are not judged.
    public var trust: TrustSettings? = TrustSettings()
    /// Live capture: detectors keep findings as they decide them, for `drainNewFindings()`.
    public var streamFindings = false
    /// Decode-as hints (`--dns-port`, `--tls-port`): DNS, or TLS / QUIC, on these ports too.
    public var dnsPorts: Set<UInt16> = []
    public var tlsPorts: Set<UInt16> = []
    /// Recognise DNS by content on UDP datagrams and TCP connections not on a known port.
    public var detectDNSByContent = true
    /// Follow TCP connections not on a TLS port (TLS and DNS recognised by content there, resets
    /// judged on any service). Off only for measuring what content detection costs (a hidden switch).
    public var followOddPorts = true
    public init() {}
}

/// How an input ended (a file's driver maps its reader's end to this).
public enum InputEnd: Sendable, Equatable {
    case endOfFile
    /// The input ended inside a record, or the capture library reported another read error.
    case readError(String)
    case stopped
}

/// Facts about one input after reading it.
public struct InputResult: Sendable {
    public var name: String
    public var linkType: LinkType
    public var packets = 0
    public var bytes = 0
    public var first: Timestamp?
    public var last: Timestamp?
    public var end: InputEnd = .endOfFile
    public init(name: String, linkType: LinkType) {
        self.name = name
        self.linkType = linkType
    }
}

/// The analysis core: frames in (bytes, lengths, link type, timestamp, frame number), events
/// (`onDecode`) and findings out, with memory bounded by the flow/transaction tables (not by the
/// capture size). It knows nothing of where frames come from: the drivers in `CaptureDrivers`
/// (capture files, live interfaces) and the fuzzer feed it through `beginInput` / `feed` /
/// `endInput` (or `processFrame` alone).
public final class CaptureAnalyzer {
    public let options: AnalysisOptions
    public var onDecode: ((DecodeEvent) -> Void)?

    public private(set) var inputs: [InputResult] = []
    public private(set) var packets = 0
    public private(set) var dnsMessages = 0
    public private(set) var dnsMalformed = 0
    public private(set) var tlsClientHellos = 0
    public private(set) var tlsServerHellos = 0
    public private(set) var quicClientHellos = 0
    var tlsMalformed = 0
    /// Per reason, indexed by the reason's `ordinal` (no hashing per packet).
    var skippedCounts = [Int](repeating: 0, count: SkipReason.allCases.count)
    var malformedCounts = [Int](repeating: 0, count: MalformedReason.allCases.count)
    private(set) var dnsAnomalies: [String: Int] = [:]
    private(set) var unsupportedLinkTypes: [String: Int] = [:]
    var truncatedPayloads = 0

    let dns: DNSTransactionTracker
    let tls: TLSConnectionTracker
    var quic = QUICClientHelloFinder()
    /// Reused by every TLS stream stage for the events of one delivery.
    let tlsScratch = TLSEventScratch()
    /// Resolvers the capture shows answering DNS (sorted), for the firewall's encrypted-DNS block checks.
    public var answeringResolvers: [IPAddress] { dns.answeringResolvers.sorted() }
    /// Queries per (client, resolver, port, transport), for correlation with firewall rules.
    public var dnsPaths: DNSPathTally { pathCounter.tally }
    let pathCounter = DNSPathCounter()
    /// Encrypted DNS per client and resolver (issue 20 item 11; `EncryptedDNSSummary`).
    public let encryptedDNS = EncryptedDNSOnWire()
    /// DDR designations, ODoH names and cleartext DoH for the encrypted-DNS summary.
    let encryptedDNSDesignations = EncryptedDNSDesignations()
    /// The path's answers per (qname, qtype), when `options.collectAnswers` is set.
    public private(set) var capturedAnswers = CapturedAnswers()
    private(set) lazy var certificates: CertificateJudge? = options.trust.map { CertificateJudge(settings: $0) }
    var certificatesUnjudged = 0
    var certificatesMalformed = 0
    let fragments: IPFragmentReassembler
    /// Its `decide` is set at the end of `init` (it needs `self`); not lazy, so that the packet
    /// path does not pay for the lazy accessor on every TCP segment.
    let tcp: TCPReassembler

    private var currentInput = 0
    var lastTS = Timestamp.zero
    /// The frame being processed and its link type (for `noteTunnelled`, off the packet path).
    private var lastFrameData = UnsafeRawBufferPointer(start: nil, count: 0)
    private var lastLink = LinkType.ethernet
    /// Frames that travelled inside tunnels or VLAN tags, for evidence.
    let tunnelContexts = TunnelContexts()

    public init(options: AnalysisOptions = AnalysisOptions()) {
        self.options = options
        fragments = IPFragmentReassembler(limits: options.fragmentLimits)
        let nameBox = InputNames()
        dns = DNSTransactionTracker(limits: options.dnsLimits, inputName: { nameBox.name($0) })
        tls = TLSConnectionTracker(limits: options.tlsLimits, inputName: { nameBox.name($0) })
        self.inputNames = nameBox
        tcp = TCPReassembler(limits: options.tcpLimits)
        dns.streamsDecisions = options.streamFindings
        // unowned(unsafe) here and in the stream stages' sinks: the analyzer owns the reassembler,
        // which owns this closure and the stages, and calls them only from its own methods; a
        // checked unowned reference costs an atomic retain and release on every access.
        tcp.decide = { [unowned(unsafe) self] seg, key in self.decideTCP(seg, key) }
        // What the DNS side learned of a server (it answers plain DNS; its packets' usual IP TTL)
        // is evidence for the TLS side's encrypted-DNS judgements (issue 15: one policy per kind).
        let dnsTracker = dns
        tls.answersPlainDNS = { [unowned dnsTracker] in dnsTracker.baselineTTL($0) != nil }
        tls.usualServerTTL = { [unowned dnsTracker] in dnsTracker.baselineTTL($0) }
    }

    private let inputNames: InputNames

    /// Name of the input being read (for decode lines over several files).
    public var currentInputName: String? { inputNames.name(currentInput) }

    /// Name of input `i` (evidence names the capture file it came from).
    public func inputName(_ i: Int) -> String? { inputNames.name(i) }

    // MARK: - Inputs and frames (the one frame loop every driver uses)

    /// The input being fed (between `beginInput(name:linkType:)` and `endInput(end:)`).
    private var current = InputResult(name: "", linkType: .ethernet)
    private var feeding = false

    /// Starts an input (a capture file, a live interface) that is fed frame by frame with `feed`.
    /// Returns its index.
    @discardableResult
    public func beginInput(name: String, linkType: LinkType) -> Int {
        current = InputResult(name: name, linkType: linkType)
        feeding = true
        return beginInput(name: name)
    }

    /// The facts of the input being fed so far (packets, bytes, first and last timestamps).
    public var currentInputFacts: InputResult { current }

    /// One frame of the current input: counted for the input's facts, then decoded and analysed.
    /// `number` is the frame's number in its input (1-based; a filter keeps the file's numbers).
    @inline(__always)
    public func feed(_ data: UnsafeRawBufferPointer, captureLength: Int, seconds: Int64, nanoseconds: UInt32, number: UInt64) {
        let ts = Timestamp(seconds: seconds, nanoseconds: nanoseconds)
        if current.first == nil { noteInputStart(ts) }
        current.last = ts
        current.packets += 1
        current.bytes += captureLength
        processFrame(data, link: current.linkType, frame: number, ts: ts)
    }

    /// Ends the input started with `beginInput(name:linkType:)`; flows do not continue past it.
    public func endInput(end: InputEnd) {
        guard feeding else { return }
        feeding = false
        var result = current
        result.end = end
        current = InputResult(name: "", linkType: .ethernet)
        endInput(result)
    }

    /// The time of the current input's first frame (a flow-sharded worker gets it from the reader,
    /// before the frames of its share): the DNS side's capture-start grace window starts there.
    public func noteInputStart(_ ts: Timestamp) {
        current.first = ts
        dns.noteInputStart(currentInput, at: ts)
    }

    /// A flow-sharded worker's end of input: the partial facts it counted are dropped.
    func feedingEnded() {
        feeding = false
        current = InputResult(name: "", linkType: .ethernet)
    }

    /// Decodes one frame and feeds it to reassembly and the detectors.
    @inline(__always)
    public func processFrame(_ data: UnsafeRawBufferPointer, link: LinkType, frame: UInt64, ts: Timestamp) {
        packets += 1
        lastTS = ts
        lastFrameData = data
        lastLink = link
        switch PacketDecoder.decode(data, linkType: link) {
        case .segment(let seg):
            if CaptureAnalyzer.isTagged(data, link) { noteTunnelled(frame) }
            handleSegment(seg, frame: frame, ts: ts)
        case .fragment(let frag):
            handleFragment(frag, frame: frame, ts: ts)
        case .skipped(let r):
            skippedCounts[r.ordinal] += 1
            if r == .unsupportedLinkType { unsupportedLinkTypes[link.name, default: 0] += 1 }
            if r == .otherIPProtocol && doq.waiting { noteICMP(frame: frame, ts: ts) }
        case .malformed(let r):
            malformedCounts[r.ordinal] += 1
        case .encapsulated(let kind, let bytes):
            noteTunnelled(frame)
            handleTunnelled(PacketDecoder.resolveTunnels(.encapsulated(kind, bytes)), frame: frame, ts: ts)
        }
    }

    /// An Ethernet frame with a VLAN tag, or a PPPoE link's frame: its layers are evidence too.
    @inline(__always)
    static func isTagged(_ data: UnsafeRawBufferPointer, _ link: LinkType) -> Bool {
        switch link {
        case .ethernet:
            guard data.count > 13 else { return false }
            let hi = data[12], lo = data[13]
            return (hi == 0x81 || hi == 0x91) && lo == 0x00 || hi == 0x88 && lo == 0xA8
        case .pppEther: return true
        default: return false
        }
    }

    /// The frame being processed travelled inside tunnels or tags: which, for evidence (out of line).
    @inline(never)
    func noteTunnelled(_ frame: UInt64) {
        tunnelContexts.note(lastFrameData, link: lastLink, frame: frame, input: currentInput)
    }

    /// An ICMP error in the frame being processed may refuse a DoQ attempt (out of line).
    @inline(never)
    func noteICMP(frame: UInt64, ts: Timestamp) {
        if let e = PacketDecoder.icmpUnreachable(lastFrameData, linkType: lastLink) { doq.noteUnreachable(e, frame: frame, ts: ts) }
    }

    /// The DoQ attempts refused or left unanswered (`encrypted-dns.blocked`).
    func doqFindings(captureEnd: (Int) -> Timestamp?) -> [Finding] {
        let dnsTracker = dns
        return doq.findings(timeout: options.tlsLimits.synTimeoutNanoseconds, captureEnd: captureEnd, inputName: { [inputNames] in inputNames.name($0) },
                            plainDNSWorks: { dnsTracker.baselineTTL($0) != nil })
    }

    /// Adds where their frames travelled (tunnels, VLAN tags) to the capture evidence of `findings`.
    public func annotateTunnels(_ findings: inout [Finding]) {
        tunnelContexts.annotate(&findings) { [inputNames, currentInput] name in
            guard let name else { return currentInput }
            return inputNames.index(of: name)
        }
    }

    /// An IP fragment (outer or inside a tunnel): once its datagram is whole, decoded as one.
    @inline(never)
    func handleFragment(_ frag: IPFragment, frame: UInt64, ts: Timestamp) {
        guard let whole = fragments.add(frag, at: ts) else { return }
        whole.data.withUnsafeBytes { raw in
            switch PacketDecoder.decodeReassembled(proto: whole.protocolNumber, raw, ip: whole.ip) {
            case .segment(let seg): handleSegment(seg, frame: frame, ts: ts)
            case .skipped(let r): skippedCounts[r.ordinal] += 1
            case .malformed(let r): malformedCounts[r.ordinal] += 1
            // A fragment inside a reassembled datagram is not reassembled again.
            case .fragment: malformedCounts[MalformedReason.badFragment.ordinal] += 1
            case .encapsulated: malformedCounts[MalformedReason.tooManyTunnels.ordinal] += 1  // never returned
            }
        }
    }

    /// What a tunnel carried (out of the packet path's inlined code).
    @inline(never)
    func handleTunnelled(_ r: DecodeResult, frame: UInt64, ts: Timestamp) {
        switch r {
        case .segment(let seg):
            handleSegment(seg, frame: frame, ts: ts)
        case .fragment(let frag):
            // An inner fragment: reassembled by the inner addresses, then decoded as one datagram.
            handleFragment(frag, frame: frame, ts: ts)
        case .skipped(let reason):
            skippedCounts[reason.ordinal] += 1
        case .malformed(let reason):
            malformedCounts[reason.ordinal] += 1
        case .encapsulated:
            malformedCounts[MalformedReason.tooManyTunnels.ordinal] += 1  // never returned by resolveTunnels
        }
    }

    /// A datagram on a tunnel port: false when its payload is not that tunnel (a plain datagram).
    @inline(never)
    func decapsulate(_ seg: TransportSegment, frame: UInt64, ts: Timestamp) -> Bool {
        let r = PacketDecoder.resolveTunnels(.segment(seg))
        if case .segment(let s) = r, s.tunnelLayers == 0 { return false }
        noteTunnelled(frame)
        handleTunnelled(r, frame: frame, ts: ts)
        return true
    }

    @inline(__always)
    func handleSegment(_ seg: TransportSegment, frame: UInt64, ts: Timestamp) {
        if seg.payloadTruncated { truncatedPayloads += 1 }
        if seg.tunnelLayers != 0 { decapsulatedSegments += 1 }
        encryptedDNS.segment(src: seg.ip.src, dst: seg.ip.dst, sport: seg.sport, dport: seg.dport, tcp: seg.proto == .tcp,
                             payloadBytes: seg.payload.count, ts: ts, frame: frame)
        if seg.proto == .udp {
            if doq.waiting && CaptureAnalyzer.isDoQPort(seg.sport) { doq.noteDatagram(seg) }
            if let flavor = DNSFlavor.forPorts(seg.sport, seg.dport) {
                // An empty datagram on a DNS port is counted as a short (malformed) message.
                handleDNS(seg.payload, flavor: flavor, ip: seg.ip, sport: seg.sport, dport: seg.dport,
                          transport: .udp, frame: frame, ts: ts)
            } else if PacketDecoder.isTunnelPort(seg.sport, seg.dport) && seg.tunnelLayers == 0
                        && decapsulate(seg, frame: frame, ts: ts) {
                // VXLAN, Geneve, GRE-in-UDP, GTP-U, Teredo: decoded by the inner addresses.
            } else if seg.dport == 443 || CaptureAnalyzer.isDoQPort(seg.dport) || isHintedTLSPort(seg.dport),
                      QUICInitialDecryptor.looksLikeInitial(seg.payload) {
                handleQUIC(seg, frame: frame, ts: ts)
            } else if isHintedDNS(seg) {
                handleDNS(seg.payload, flavor: .dns, ip: seg.ip, sport: seg.sport, dport: seg.dport,
                          transport: .udp, frame: frame, ts: ts)
            } else if options.detectDNSByContent, seg.sport != 137, seg.dport != 137,  // NetBIOS names look like DNS
                      DNSContentCheck.looksLikeDNS(seg.payload) {
                dnsByContent += 1
                handleDNS(seg.payload, flavor: .dns, ip: seg.ip, sport: seg.sport, dport: seg.dport,
                          transport: .udp, frame: frame, ts: ts)
            }
            return
        }
        tcp.process(seg, frame: frame, at: ts)
    }

    /// One complete DNS message from UDP or from a TCP stream.
    func handleDNS(_ msg: UnsafeRawBufferPointer, flavor: DNSFlavor, ip: IPInfo, sport: UInt16, dport: UInt16,
                   transport: TransportProtocol, frame: UInt64, ts: Timestamp, carried: Bool = false) {
        dnsMessages += 1
        let ctx = {
            var c = WireContext(input: self.currentInput, frame: frame, ts: ts, src: ip.src, dst: ip.dst,
                                sport: sport, dport: dport, transport: transport)
            c.overDoH = carried
            return c
        }
        var obs = DNSObservation(frame: frame, ts: ts, src: ip.src, dst: ip.dst, sport: sport, dport: dport,
                                 transport: transport, ipTTL: ip.ttl, ipID: ip.ipID, input: currentInput)
        obs.carried = carried
        // Plain DNS found on another port (content check, --dns-port): paired like port 53.
        obs.otherPort = flavor == .dns && sport != 53 && dport != 53
        // A query's per-flow bookkeeping needs only its header and addresses: done first, so that
        // its likely cache misses overlap with the summary's work (about 2 % of analyze's time).
        let query = flavor == .dns && DNSSummary.isQuery(msg)
        if query {
            dns.noteQueryFlow(obs)
            pathCounter.query(client: ip.src, resolver: ip.dst, port: dport, transport: transport, frame: frame, input: currentInput, ts: ts)
        }
        guard let summary = DNSSummary.summarize(msg) else {
            dnsMalformed += 1
            dnsAnomalies["DNS_short_message", default: 0] += 1
            onDecode?(.dnsError(ctx(), flavor, "DNS_short_message"))
            return
        }
        var parsed: DNSMessage?
        let wellFormed = summary.fullyWellFormed
        if !wellFormed || onDecode != nil {
            if case .success(let m) = DNSMessage.parse(msg) { parsed = m }
        }
        if !wellFormed {
            dnsMalformed += 1
            for a in parsed?.anomalies ?? [] { dnsAnomalies[a.code, default: 0] += 1 }
            if parsed?.anomalies.isEmpty ?? true { dnsAnomalies["DNS_malformed", default: 0] += 1 }
        }
        if let cb = onDecode {
            if let m = parsed { cb(.dns(ctx(), flavor, m)) } else { cb(.dnsError(ctx(), flavor, "DNS_unparseable")) }
        }
        if flavor == .dns {
            if summary.qr && options.collectAnswers && summary.opcode == 0 {
                if parsed == nil, case .success(let m) = DNSMessage.parse(msg) { parsed = m }
                if let m = parsed {
                    capturedAnswers.add(m, resolver: ip.src, client: ip.dst, clientPort: dport, transport: transport, frame: frame, input: currentInput, ts: ts)
                }
            }
            dns.observe(obs, bytes: msg, summary: summary, flowNoted: query)
            if summary.qr && summary.qtype == DNSType.svcb { encryptedDNSDesignations.svcbResponse(msg, into: encryptedDNS) }
        }
    }

    // MARK: - TLS and QUIC

    func handleQUIC(_ seg: TransportSegment, frame: UInt64, ts: Timestamp) {
        let key = QUICClientHelloFinder.Key(client: seg.ip.src, clientPort: seg.sport, server: seg.ip.dst, serverPort: seg.dport)
        guard let body = quic.feed(seg.payload, key: key) else { return }
        // DNS over QUIC (RFC 9250; the doq-i drafts on 784 and 8853): encrypted DNS by its port or ALPN.
        guard let scan = clientHello(body, transport: .quic, seg: seg, frame: frame, ts: ts) else { return }
        if CaptureAnalyzer.isDoQPort(seg.dport) || body.withUnsafeBytes({ ClientHello.offersDoQ($0) }) {
            doqConnections += 1
            // Followed for its answer on the DoQ ports only (another port offering `doq` may be anything).
            if CaptureAnalyzer.isDoQPort(seg.dport) { doq.noteInitial(seg, sni: scan.sni, frame: frame, ts: ts, input: currentInput) }
        }
    }

    /// DNS over QUIC connections (one per client Initial's ClientHello).
    var doqConnections = 0
    /// DoQ attempts followed for an answer (blocked DoQ).
    let doq = DoQAttempts()
    /// DNS messages out of cleartext DoH (HTTP/1.1, h2c).
    var dohMessages = 0

    /// UDP ports of DNS over QUIC: 853 (RFC 9250), 784 and 8853 (its drafts, AdGuard).
    @inline(__always)
    static func isDoQPort(_ p: UInt16) -> Bool { p == 853 || p == 784 || p == 8853 }

    /// A ClientHello body from a TCP stream or QUIC CRYPTO frames: counted, decoded in full only
    /// for decode output (analysis needs its validity and server name, found without building
    /// the hello). Nil, counted as malformed, when it does not parse.
    func clientHello(_ body: [UInt8], transport: JA4Transport, seg: TransportSegment, frame: UInt64,
                     ts: Timestamp) -> ClientHello.Scan? {
        let scan: ClientHello.Scan?
        if let cb = onDecode {
            let ch = ClientHello.parse(body)
            if let ch {
                cb(.tlsClientHello(WireContext(input: currentInput, frame: frame, ts: ts, src: seg.ip.src, dst: seg.ip.dst,
                                               sport: seg.sport, dport: seg.dport, transport: seg.proto), ch, transport))
            }
            scan = ch.map { ClientHello.Scan(sni: $0.sni) }
        } else {
            scan = body.withUnsafeBytes { ClientHello.scan($0) }
        }
        guard scan != nil else {
            tlsMalformed += 1
            return nil
        }
        tlsClientHellos += 1
        if transport == .quic { quicClientHellos += 1 }
        if transport != .quic {
            encryptedDNS.clientHello(sni: scan?.sni, server: seg.ip.dst, port: seg.dport)
            encryptedDNSDesignations.clientHello(sni: scan?.sni, server: seg.ip.dst, port: seg.dport, into: encryptedDNS)
        }
        return scan
    }

    /// A ServerHello body: counted (decoded for decode output); false, counted as malformed,
    /// when it does not parse.
    func serverHello(_ body: [UInt8], seg: TransportSegment, frame: UInt64, ts: Timestamp) -> Bool {
        let ok: Bool
        if let cb = onDecode {
            let sh = ServerHello.parse(body)
            if let sh {
                cb(.tlsServerHello(WireContext(input: currentInput, frame: frame, ts: ts, src: seg.ip.src, dst: seg.ip.dst,
                                               sport: seg.sport, dport: seg.dport, transport: seg.proto), sh))
            }
            ok = sh != nil
        } else {
            ok = body.withUnsafeBytes { ServerHello.isWellFormed($0) }
        }
        if ok { tlsServerHellos += 1 } else { tlsMalformed += 1 }
        return ok
    }

    /// A server's Certificate message (TLS ≤ 1.2): judged against the trust store, the SNI and
    /// the time of the capture.
    func sawCertificate(_ body: [UInt8], record: TLSConnectionRecord, frame: UInt64, ts: Timestamp) {
        guard let judge = certificates else { return }
        let message = body.withUnsafeBytes { CertificateMessage.parse($0) }
        guard let message else {
            tlsMalformed += 1
            return
        }
        let time = Date(timeIntervalSince1970: Double(ts.seconds) + Double(ts.nanoseconds) / 1e9)
        switch judge.judge(message, serverName: record.serverName, at: time) {
        case .judged(let v):
            record.sawCertificate(v, frame: frame)
        case .noTrustStore:
            certificatesUnjudged += 1
        case .malformed:
            certificatesMalformed += 1
        case .empty:
            break
        }
    }

    /// DNS recognised by content on ports that are not DNS ports: UDP messages, TCP connections.
    var dnsByContent = 0
    var dnsConnectionsByContent = 0
    /// UDP/TCP segments found inside tunnels (GRE, VXLAN, Geneve, GTP-U, PPPoE, IP-in-IP, …).
    var decapsulatedSegments = 0

    @inline(__always)
    func isHintedTLSPort(_ p: UInt16) -> Bool { !options.tlsPorts.isEmpty && options.tlsPorts.contains(p) }

    @inline(__always)
    func isHintedDNS(_ seg: TransportSegment) -> Bool {
        !options.dnsPorts.isEmpty && (options.dnsPorts.contains(seg.dport) || options.dnsPorts.contains(seg.sport))
    }

    // MARK: - TCP

    /// Ports where TLS starts with the connection (HTTPS, DoT, SMTPS, IMAPS, POP3S, LDAPS, 8443).
    @inline(__always)
    static func isTLSPort(_ p: UInt16) -> Bool {
        switch p {
        case 443, 853, 465, 993, 995, 636, 8443: return true
        default: return false
        }
    }

    /// Which TCP connections to follow, and who the client is.
    func decideTCP(_ seg: TransportSegment, _ key: FlowKey) -> TCPFlowDecision? {
        let isSYN = seg.tcpFlags & TransportSegment.syn != 0 && seg.tcpFlags & TransportSegment.ackFlag == 0
        if let flavor = DNSFlavor.forPorts(seg.sport, seg.dport) {
            let serverPort: UInt16 = flavor == .dns ? 53 : (flavor == .mdns ? 5353 : 5355)
            let srcIsClient = isSYN || seg.dport == serverPort
            return TCPFlowDecision(consumer: DNSStreamStage(sink: self, flavor: flavor), sourceIsClient: srcIsClient)
        }
        if isHintedDNS(seg) {
            let srcIsClient = isSYN || options.dnsPorts.contains(seg.dport)
            return TCPFlowDecision(consumer: DNSStreamStage(sink: self, flavor: .dns), sourceIsClient: srcIsClient)
        }
        let tlsPort = CaptureAnalyzer.isTLSPort(seg.dport) || CaptureAnalyzer.isTLSPort(seg.sport)
            || isHintedTLSPort(seg.dport) || isHintedTLSPort(seg.sport)
        // Follow TLS ports, every new connection (TLS on odd ports: its SYN/SYN-ACK are the baseline
        // for judging resets; DNS is recognised there by content too), and mid-stream connections
        // whose client speaks TLS or DNS.
        if !tlsPort && !isSYN && options.detectDNSByContent && DNSContentCheck.looksLikeDNSOverTCP(seg.payload) {
            // Mid-stream: the side whose message is a query is the client.
            let srcIsClient = seg.payload.count > 4 && seg.payload[4] & 0x80 == 0
            dnsConnectionsByContent += 1
            return TCPFlowDecision(consumer: DNSStreamStage(sink: self, flavor: .dns), sourceIsClient: srcIsClient)
        }
        guard tlsPort || options.followOddPorts && (isSYN || looksLikeTLSHandshake(seg.payload)) else { return nil }
        let srcIsClient: Bool
        if isSYN || looksLikeTLSHandshake(seg.payload) {
            srcIsClient = true
        } else if seg.tcpFlags & TransportSegment.syn != 0 {
            srcIsClient = false  // SYN-ACK
        } else {
            srcIsClient = CaptureAnalyzer.isTLSPort(seg.dport) || isHintedTLSPort(seg.dport)
        }
        let client = srcIsClient ? seg.ip.src : seg.ip.dst
        let server = srcIsClient ? seg.ip.dst : seg.ip.src
        let record = tls.open(client: client, clientPort: srcIsClient ? seg.sport : seg.dport, server: server,
                              serverPort: srcIsClient ? seg.dport : seg.sport, input: currentInput, ts: lastTS)
        let stage = TLSStreamStage(sink: self, scratch: tlsScratch, record: record, sniffing: !tlsPort,
                                   sniffDNS: !tlsPort && options.detectDNSByContent)
        return TCPFlowDecision(consumer: stage, sourceIsClient: srcIsClient)
    }

    // MARK: - Inputs fed with processFrame; timeouts by the clock; findings streamed

    /// Starts an input fed with `processFrame` directly; the caller records its facts and gives
    /// them to `endInput(_:)`. Returns its index.
    @discardableResult
    public func beginInput(name: String) -> Int {
        inputNames.append(name)
        currentInput = inputs.count
        return currentInput
    }

    /// Ends the input started with `beginInput`: records its facts; flows do not continue past it.
    public func endInput(_ result: InputResult) {
        inputs.append(result)
        tcp.finish(at: lastTS)
        fragments.finish()
    }

    /// Drives every capture-time timeout to `now` (DNS transactions, TCP connections, IP
    /// fragments, unanswered TLS hellos) even when no packet arrives. Live capture calls this about
    /// once a second with the clock (packet timestamps are the same clock), so tables stay bounded
    /// by time as well as by size, and findings that wait for a timeout are decided while running.
    public func expire(now: Timestamp) {
        dns.expire(now: now)
        tcp.expire(now: now)
        fragments.expire(now: now)
        tls.expire(now: now)
    }

    /// Findings decided since the last call, each finding id once per run (needs
    /// `AnalysisOptions.streamFindings`). They show what is known when decided; `finish()` still
    /// returns every finding with its full evidence.
    public func drainNewFindings() -> [Finding] {
        var out: [Finding] = []
        var decided = dns.drainDecidedFindings() + tls.drainDecidedFindings()
        annotateTunnels(&decided)
        for f in decided {
            if streamedIDs.count >= 65_536 { streamedIDs.removeAll() }  // bound memory; a rare repeat is harmless
            if streamedIDs.insert(f.id).inserted { out.append(f) }
        }
        return out
    }

    private var streamedIDs: Set<String> = []

    // MARK: - Results

    public func finish() -> [Finding] {
        let ends = inputs.map(\.last)
        let captureEnd: (Int) -> Timestamp? = { i in i >= 0 && i < ends.count ? ends[i] : nil }
        var out = dns.finish() + tls.finish(captureEnd: captureEnd) + doqFindings(captureEnd: captureEnd)
        annotateTunnels(&out)
        return out
    }

    /// Summary counters per the contract, plus the detail counters.
    public func summary() -> ReportSummary { CaptureAnalyzer.summary(of: [self]) }

    /// The summary of several cores that each analysed part of the same inputs (flow-sharded
    /// workers): every count is the sum of theirs, the resolvers their union. One core gives
    /// exactly `summary()`.
    public static func summary(of cores: [CaptureAnalyzer]) -> ReportSummary {
        func sum(_ f: (CaptureAnalyzer) -> Int) -> Int { cores.reduce(0) { $0 + f($1) } }
        let packets = sum { $0.packets }, dnsMessages = sum { $0.dnsMessages }, dnsMalformed = sum { $0.dnsMalformed }
        let tlsClientHellos = sum { $0.tlsClientHellos }, tlsMalformed = sum { $0.tlsMalformed }
        let quicClientHellos = sum { $0.quicClientHellos }, tlsServerHellos = sum { $0.tlsServerHellos }
        let truncatedPayloads = sum { $0.truncatedPayloads }, doqConnections = sum { $0.doqConnections }
        let dohMessages = sum { $0.dohMessages }, certificatesMalformed = sum { $0.certificatesMalformed }
        let certificatesUnjudged = sum { $0.certificatesUnjudged }, decapsulatedSegments = sum { $0.decapsulatedSegments }
        let dnsByContent = sum { $0.dnsByContent }, dnsConnectionsByContent = sum { $0.dnsConnectionsByContent }
        var skippedCounts = [Int](repeating: 0, count: SkipReason.allCases.count)
        var malformedCounts = [Int](repeating: 0, count: MalformedReason.allCases.count)
        var unsupportedLinkTypes: [String: Int] = [:]
        var dnsAnomalies: [String: Int] = [:]
        var resolvers = Set<IPAddress>()
        // The first core's own values, the others' added to them (the stats have no public initializer).
        var ds = cores[0].dns.stats, fs = cores[0].fragments.stats, ts = cores[0].tcp.stats
        var tlsStats = cores[0].tls.stats
        var quicInitials = 0
        for (k, core) in cores.enumerated() {
            for i in skippedCounts.indices { skippedCounts[i] += core.skippedCounts[i] }
            for i in malformedCounts.indices { malformedCounts[i] += core.malformedCounts[i] }
            unsupportedLinkTypes.merge(core.unsupportedLinkTypes, uniquingKeysWith: +)
            dnsAnomalies.merge(core.dnsAnomalies, uniquingKeysWith: +)
            resolvers.formUnion(core.dns.resolvers)
            if k > 0 {
                ds.add(core.dns.stats)
                fs.add(core.fragments.stats)
                ts.add(core.tcp.stats)
                tlsStats.add(core.tls.stats)
            }
            quicInitials += core.quic.initials
        }
        var s = ReportSummary()
        s.packets = packets
        s.dnsMessages = dnsMessages
        s.dnsTransactions = ds.transactions
        s.unansweredQueries = ds.unanswered
        s.tlsClientHellos = tlsClientHellos
        s.resolvers = resolvers.sorted().map(\.description)
        let malformedFrames = malformedCounts.reduce(0, +)
        s.malformed = malformedFrames + dnsMalformed + tlsMalformed
        s.dropped = fs.evicted + fs.timedOut + fs.tooLarge + ts.evicted + ts.droppedSegmentsOverLimit + ds.evictedTransactions
        var c: [(String, Int)] = []
        for r in SkipReason.allCases where skippedCounts[r.ordinal] > 0 { c.append(("skipped_" + r.rawValue, skippedCounts[r.ordinal])) }
        for (lt, n) in unsupportedLinkTypes.sorted(by: { $0.key < $1.key }) { c.append(("link_type_\(lt)", n)) }
        for r in MalformedReason.allCases where malformedCounts[r.ordinal] > 0 { c.append(("malformed_" + r.rawValue, malformedCounts[r.ordinal])) }
        for (a, n) in dnsAnomalies.sorted(by: { $0.key < $1.key }) { c.append(("dns_anomaly_" + a, n)) }
        if truncatedPayloads > 0 { c.append(("truncated_payloads", truncatedPayloads)) }
        c.append(("dns_queries", ds.queries))
        c.append(("dns_responses", ds.responses))
        c.append(("dns_retransmitted_queries", ds.retransmittedQueries))
        c.append(("dns_duplicate_responses", ds.duplicateResponses))
        c.append(("dns_conflicting_responses", ds.conflictingResponses))
        c.append(("dns_unsolicited_responses", ds.unsolicitedResponses))
        c.append(("dns_late_responses", ds.lateResponses))
        c.append(("dns_evicted_transactions", ds.evictedTransactions))
        c.append(("ip_fragments", fs.fragments))
        c.append(("ip_datagrams_reassembled", fs.reassembled))
        c.append(("ip_fragments_timed_out", fs.timedOut))
        c.append(("ip_fragments_evicted", fs.evicted + fs.tooLarge))
        c.append(("tcp_connections_followed", ts.connections))
        c.append(("tcp_retransmitted_segments", ts.retransmittedSegments))
        c.append(("tcp_out_of_order_segments", ts.outOfOrderSegments))
        c.append(("tcp_gap_bytes", ts.gapBytes))
        c.append(("tcp_connections_evicted", ts.evicted))
        c.append(("tcp_segments_dropped_over_limit", ts.droppedSegmentsOverLimit))
        c.append(("tls_client_hellos", tlsClientHellos))
        c.append(("quic_client_hellos", quicClientHellos))
        c.append(("tls_server_hellos", tlsServerHellos))
        c.append(("tls_completed_handshakes", tlsStats.completedHandshakes))
        c.append(("tls_resets_after_client_hello", tlsStats.resetsAfterClientHello))
        c.append(("tls_handshake_timeouts", tlsStats.timeouts))
        c.append(("encrypted_dns_dot_connections", tlsStats.dotConnections))
        c.append(("encrypted_dns_doh_connections", tlsStats.dohConnections))
        c.append(("encrypted_dns_doq_connections", doqConnections))
        if dohMessages > 0 { c.append(("cleartext_doh_messages", dohMessages)) }
        c.append(("quic_initials_decrypted", quicInitials))
        c.append(("tls_certificates_judged", tlsStats.certificatesJudged))
        c.append(("tls_untrusted_certificates", tlsStats.untrustedCertificates))
        if certificatesMalformed > 0 { c.append(("tls_certificates_malformed", certificatesMalformed)) }
        if certificatesUnjudged > 0 { c.append(("tls_certificates_unjudged", certificatesUnjudged)) }
        if tlsMalformed > 0 { c.append(("tls_malformed", tlsMalformed)) }
        if decapsulatedSegments > 0 { c.append(("tunnelled_segments", decapsulatedSegments)) }
        if dnsByContent > 0 { c.append(("dns_udp_recognised_by_content", dnsByContent)) }
        if dnsConnectionsByContent > 0 { c.append(("dns_tcp_connections_recognised_by_content", dnsConnectionsByContent)) }
        s.counters = c
        return s
    }

    /// What could not be examined, for an `inconclusive` verdict: an input without packets (or
    /// none left after the filter), frames of a link type that is not decoded, and a capture that
    /// holds no DNS message, TLS hello or QUIC Initial at all.
    public func inconclusiveReasons() -> [String] { CaptureAnalyzer.inconclusiveReasons(of: [self]) }

    /// `inconclusiveReasons()` of cores that each analysed part of the same inputs.
    public static func inconclusiveReasons(of cores: [CaptureAnalyzer]) -> [String] {
        guard let first = cores.first else { return [] }
        var out: [String] = []
        for i in first.inputs {
            if i.packets == 0 {
                out.append("\(i.name) holds no packets\(first.options.filter.map { " that pass the filter '\($0)'" } ?? ""): nothing was examined")
            } else if case .unsupported = i.linkType {
                out.append("\(i.name): link type \(i.linkType.name) is not decoded, so its \(i.packets) frames were not examined")
            }
        }
        let packets = cores.reduce(0) { $0 + $1.packets }
        let dnsMessages = cores.reduce(0) { $0 + $1.dnsMessages }
        let tlsClientHellos = cores.reduce(0) { $0 + $1.tlsClientHellos }
        let connections = cores.reduce(0) { $0 + $1.tls.stats.connections }
        if out.isEmpty && packets > 0 && dnsMessages == 0 && tlsClientHellos == 0 && connections == 0 {
            out.append("the capture holds no DNS message, no TLS or QUIC hello and no connection to a TLS port: nothing in it could show DNS or TLS tampering")
        }
        return out
    }

    /// Plain-language notes about the inputs (truncation, unsupported frames).
    public func notes() -> [String] { CaptureAnalyzer.notes(of: [self]) }

    /// `notes()` of cores that each analysed part of the same inputs.
    public static func notes(of cores: [CaptureAnalyzer]) -> [String] {
        guard let first = cores.first else { return [] }
        var n: [String] = []
        for i in first.inputs {
            if case .readError(let e) = i.end {
                n.append("\(i.name): the capture ends early (\(e)); this report covers the \(i.packets) packets read before that.")
            }
            if case .unsupported = i.linkType {
                n.append("\(i.name): link type \(i.linkType.name) is not supported; its \(i.packets) frames were counted but not decoded.")
            }
        }
        let certificatesUnjudged = cores.reduce(0) { $0 + $1.certificatesUnjudged }
        if certificatesUnjudged > 0 {
            n.append("\(certificatesUnjudged) server certificates were not judged: no trust store was found (install ca-certificates, or give --ca-file).")
        }
        let nonIP = cores.reduce(0) { $0 + $1.skippedCounts[SkipReason.nonIP.ordinal] }
        if nonIP > 0 { n.append("\(nonIP) frames carried no IP (ARP, LLDP, …) and were skipped.") }
        let truncatedPayloads = cores.reduce(0) { $0 + $1.truncatedPayloads }
        if truncatedPayloads > 0 {
            n.append("\(truncatedPayloads) packets were cut short by the capture's snap length; their payloads were decoded as far as they go.")
        }
        return n
    }
}

// MARK: - What the stream stages report

extension CaptureAnalyzer: StreamEventSink {
    func dnsMessage(_ msg: UnsafeRawBufferPointer, flavor: DNSFlavor, seg: TransportSegment, frame: UInt64, ts: Timestamp) {
        handleDNS(msg, flavor: flavor, ip: seg.ip, sport: seg.sport, dport: seg.dport, transport: .tcp, frame: frame, ts: ts)
    }

    func dnsRecognisedOnStream() { dnsConnectionsByContent += 1 }

    func dohMessage(_ msg: UnsafeRawBufferPointer, seg: TransportSegment, frame: UInt64, ts: Timestamp) {
        dohMessages += 1
        encryptedDNSDesignations.cleartextDoH(msg, seg: seg, frame: frame, ts: ts, into: encryptedDNS)
        handleDNS(msg, flavor: .dns, ip: seg.ip, sport: seg.sport, dport: seg.dport, transport: .tcp, frame: frame, ts: ts, carried: true)
    }

    func odohData(bytes: Int, seg: TransportSegment, fromClient: Bool, frame: UInt64, ts: Timestamp) {
        encryptedDNSDesignations.cleartextODoH(bytes: bytes, seg: seg, fromClient: fromClient, frame: frame, ts: ts, into: encryptedDNS)
    }

    func tlsClientHello(_ body: [UInt8], seg: TransportSegment, frame: UInt64, ts: Timestamp) -> ClientHello.Scan? {
        clientHello(body, transport: .tcp, seg: seg, frame: frame, ts: ts)
    }

    func tlsServerHello(_ body: [UInt8], seg: TransportSegment, frame: UInt64, ts: Timestamp) -> Bool {
        serverHello(body, seg: seg, frame: frame, ts: ts)
    }

    func tlsCertificate(_ body: [UInt8], record: TLSConnectionRecord, frame: UInt64, ts: Timestamp) {
        sawCertificate(body, record: record, frame: frame, ts: ts)
    }

    func tlsMalformedRecord() { tlsMalformed += 1 }

    func tlsConnectionEnded(_ record: TLSConnectionRecord) { tls.close(record) }
}

/// Input index → name, shared with the detectors for evidence.
final class InputNames: @unchecked Sendable {
    private var names: [String] = []
    func append(_ n: String) { names.append(n) }
    func name(_ i: Int) -> String? { i >= 0 && i < names.count ? names[i] : nil }
    func index(of name: String) -> Int? { names.firstIndex(of: name) }
}


