import AnalysisEvents
import FlowReassembly
import NetTypes
import PacketDecode
import TLSAnalysis
import TLSWire

/// Splits one TCP stream direction into DNS messages (RFC 1035 §4.2.2: 2-byte length prefix).
/// Several messages per segment and messages over several segments both work; memory is
/// bounded by the largest possible message.
struct DNSLengthFramer {
    private var buffer: [UInt8] = []
    private(set) var lostSync = false

    /// Appends stream bytes and calls `emit` for every complete message.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) -> Void) {
        guard !lostSync else { return }
        if buffer.isEmpty {
            // Fast path: parse directly out of the segment, buffer only the tail.
            var off = 0
            while bytes.count - off >= 2 {
                let len = Int(UInt16(bytes[off]) << 8 | UInt16(bytes[off + 1]))
                guard bytes.count - off - 2 >= len else { break }
                emit(UnsafeRawBufferPointer(rebasing: bytes[(off + 2)..<(off + 2 + len)]))
                off += 2 + len
            }
            if off < bytes.count { buffer.append(contentsOf: bytes[off...]) }
            return
        }
        buffer.append(contentsOf: bytes)
        var off = 0
        buffer.withUnsafeBytes { raw in
            while raw.count - off >= 2 {
                let len = Int(UInt16(raw[off]) << 8 | UInt16(raw[off + 1]))
                guard raw.count - off - 2 >= len else { break }
                emit(UnsafeRawBufferPointer(rebasing: raw[(off + 2)..<(off + 2 + len)]))
                off += 2 + len
            }
        }
        if off > 0 { buffer.removeFirst(off) }
    }

    /// Bytes were lost: the framing cannot be trusted any more.
    mutating func loseSync() {
        lostSync = true
        buffer = []
    }

    var pendingBytes: Int { buffer.count }
}

/// What the TCP stream stages (DNS-over-TCP framing, the TLS record layer) report upward. Each
/// stage is self-contained: it owns its framing or record state and knows nothing of the analyzer
/// beyond this interface; the analyzer implements it (counting, decode events, the detectors).
protocol StreamEventSink: AnyObject {
    /// A whole DNS message framed out of a stream; `seg` is the last segment of that direction
    /// (addresses, ports, IP facts; its payload is empty).
    func dnsMessage(_ msg: UnsafeRawBufferPointer, flavor: DNSFlavor, seg: TransportSegment, frame: UInt64, ts: Timestamp)
    /// A connection on a port that is not a DNS port turned out to carry DNS (by its content).
    func dnsRecognisedOnStream()
    /// A DNS message out of cleartext DNS over HTTPS (a GET's dns= or an application/dns-message body).
    func dohMessage(_ msg: UnsafeRawBufferPointer, seg: TransportSegment, frame: UInt64, ts: Timestamp)
    /// In-order bytes of a cleartext Oblivious DoH connection (RFC 9230: an
    /// `application/oblivious-dns-message` request); `fromClient` says the direction.
    func odohData(bytes: Int, seg: TransportSegment, fromClient: Bool, frame: UInt64, ts: Timestamp)
    /// A ClientHello from the client side: its scan (server name), nil when it does not parse.
    func tlsClientHello(_ body: [UInt8], seg: TransportSegment, frame: UInt64, ts: Timestamp) -> ClientHello.Scan?
    /// A ServerHello from the server side: false when it does not parse.
    func tlsServerHello(_ body: [UInt8], seg: TransportSegment, frame: UInt64, ts: Timestamp) -> Bool
    /// The server's Certificate message (TLS ≤ 1.2), for the connection's record.
    func tlsCertificate(_ body: [UInt8], record: TLSConnectionRecord, frame: UInt64, ts: Timestamp)
    /// A TLS record or handshake message that does not parse.
    func tlsMalformedRecord()
    /// A TLS connection is no longer followed: its record is complete.
    func tlsConnectionEnded(_ record: TLSConnectionRecord)
}

/// Follows one DNS-over-TCP connection: frames both directions into messages and reports each.
final class DNSStreamStage<Sink: StreamEventSink>: TCPStreamConsumer {
    unowned(unsafe) let sink: Sink  // the sink owns the reassembler that owns this stage
    let flavor: DNSFlavor
    var toServer = DNSLengthFramer()
    var toClient = DNSLengthFramer()
    var lastFromClient: TransportSegment?
    var lastFromServer: TransportSegment?

    init(sink: Sink, flavor: DNSFlavor) {
        self.sink = sink
        self.flavor = flavor
    }

    func segment(_ seg: TransportSegment, fromClient: Bool, frame: UInt64, at ts: Timestamp) {
        var copy = seg
        copy.payload = UnsafeRawBufferPointer(start: nil, count: 0)
        if fromClient { lastFromClient = copy } else { lastFromServer = copy }
    }

    func data(_ bytes: UnsafeRawBufferPointer, fromClient: Bool, frame: UInt64, at ts: Timestamp) -> Bool {
        guard let seg = fromClient ? lastFromClient : lastFromServer else { return true }
        let emit: (UnsafeRawBufferPointer) -> Void = { msg in
            self.sink.dnsMessage(msg, flavor: self.flavor, seg: seg, frame: frame, ts: ts)
        }
        if fromClient { toServer.feed(bytes, emit: emit) } else { toClient.feed(bytes, emit: emit) }
        return !(fromClient ? toServer.lostSync : toClient.lostSync)
    }

    func gap(fromClient: Bool, bytes: Int) {
        if fromClient { toServer.loseSync() } else { toClient.loseSync() }
    }

    func closed(_ reason: TCPCloseReason, at ts: Timestamp) {}
}
