import DoHWire
import NetTypes
import PacketDecode

/// Cleartext DNS over HTTPS on a followed TCP connection (HTTP/1.1, h2c with prior knowledge or
/// Upgrade): the DNS messages of its requests and responses go to the sink as DNS over TCP from
/// the connection's addresses, so the same detectors pair and judge them. An HTTP connection whose
/// first request is not DoH (nor HTTP/2) is given up; most are told from their first bytes alone,
/// before a decoder is made.
final class DoHStreamStage<Sink: StreamEventSink> {
    unowned(unsafe) let sink: Sink
    /// Made with the first bytes that may be DoH.
    private(set) var decoder: DoHStreamDecoder?
    private var messages: [DoHMessage] = []
    private(set) var gaveUp = false
    private(set) var dnsMessages = 0
    /// The first request asked for `application/oblivious-dns-message`: every later byte is ODoH.
    private(set) var oblivious = false

    init(sink: Sink) {
        self.sink = sink
    }

    /// In-order bytes of one direction; `seg` is that direction's last segment (addresses, IP facts).
    /// False when nothing more is wanted of this connection.
    func data(_ bytes: UnsafeRawBufferPointer, seg: TransportSegment, fromClient: Bool, frame: UInt64, at ts: Timestamp) -> Bool {
        guard !gaveUp else { return false }
        if oblivious {
            sink.odohData(bytes: bytes.count, seg: seg, fromClient: fromClient, frame: frame, ts: ts)
            return true
        }
        let decoder: DoHStreamDecoder
        if let d = self.decoder {
            decoder = d
        } else {
            // Plain web traffic, told from the first request's bytes without parsing them.
            if fromClient && DoHStreamDecoder.isPlainHTTPRequest(bytes) {
                gaveUp = true
                return false
            }
            decoder = DoHStreamDecoder()
            self.decoder = decoder
        }
        let alive = decoder.feed(bytes, fromClient: fromClient, into: &messages)
        for m in messages {
            dnsMessages += 1
            m.dns.withUnsafeBytes { sink.dohMessage($0, seg: seg, frame: frame, ts: ts) }
        }
        messages.removeAll(keepingCapacity: true)
        // ODoH's encrypted messages give the decoder nothing: told by the request's content type.
        if fromClient && !decoder.sawDoH && EncryptedDNSDesignations.namesObliviousDNS(bytes) {
            oblivious = true
            sink.odohData(bytes: bytes.count, seg: seg, fromClient: true, frame: frame, ts: ts)
            return true
        }
        if !alive && fromClient { gaveUp = true }
        // Plain web traffic: its first request says so (a DoH POST whose body is still to come is DoH).
        if fromClient && decoder.clientRequests >= 1 && !decoder.sawDoH && !decoder.isHTTP2OrUpgrading && !decoder.clientAwaitsDoHBody {
            gaveUp = true
        }
        return !gaveUp && alive
    }
}

extension StreamEventSink {
    /// By default cleartext ODoH is not counted.
    func odohData(bytes: Int, seg: TransportSegment, fromClient: Bool, frame: UInt64, ts: Timestamp) {}

    /// By default a DoH message is a DNS message of the stream (the analyzer pairs it on any port).
    func dohMessage(_ msg: UnsafeRawBufferPointer, seg: TransportSegment, frame: UInt64, ts: Timestamp) {
        dnsMessage(msg, flavor: .dns, seg: seg, frame: frame, ts: ts)
    }
}
