import DoHWire
import FlowReassembly
import NetTypes
import PacketDecode
import TLSAnalysis
import TLSWire

/// One event array for every TLS stage of an analyzer: taken by a stage for one delivery and
/// given back emptied with its capacity, so delivering bytes allocates no array.
final class TLSEventScratch {
    var events: [TLSEvent] = []
}

/// Follows one TCP connection that carries (or may carry) TLS: feeds both directions to the
/// TLS record layer, reports hellos, certificates and malformed records upward, and keeps the
/// connection's facts in its record for the TLS tracker.
final class TLSStreamStage<Sink: StreamEventSink>: TCPStreamConsumer {
    unowned(unsafe) let sink: Sink  // the sink owns the reassembler that owns this stage
    let scratch: TLSEventScratch
    let record: TLSConnectionRecord
    var clientSide = TLSHandshakeReassembler()
    var serverSide = TLSHandshakeReassembler()
    /// On ports that are not TLS ports: give up when the client's first bytes are not TLS.
    let sniffing: Bool
    private(set) var isFinished = false
    var lastClient: TransportSegment?
    var lastServer: TransportSegment?
    var clientDone = false
    var serverDone = false

    /// On ports that are not TLS ports: when the client's first bytes are a DNS message (with its
    /// length prefix), the connection is DNS over TCP and `dns` follows it from then on.
    let sniffDNS: Bool
    var dns: DNSStreamStage<Sink>?
    var clientSpoke = false
    /// Not TLS (a sniffed port): followed until `record.resetWatchIsOver`.
    var watchingResets = false
    /// On ports that are not TLS ports: a client that speaks HTTP (cleartext DoH, h2c) is followed by `doh`.
    var doh: DoHStreamStage<Sink>?
    /// On ports that are not TLS ports: the client's first request was plain HTTP (no DoH stage made).
    var plainWeb = false

    init(sink: Sink, scratch: TLSEventScratch, record: TLSConnectionRecord, sniffing: Bool, sniffDNS: Bool = false) {
        self.sink = sink
        self.scratch = scratch
        self.record = record
        self.sniffing = sniffing
        self.sniffDNS = sniffDNS
    }

    func segment(_ seg: TransportSegment, fromClient: Bool, frame: UInt64, at ts: Timestamp) {
        if let dns {
            dns.segment(seg, fromClient: fromClient, frame: frame, at: ts)
            return
        }
        // Once the server's hello is in and neither side's bytes are wanted any more, later packets
        // cannot change the judgement (resets, FINs and the server's answer count only before a
        // ServerHello; alerts and certificates come with bytes): skip the bookkeeping.
        if clientDone && serverDone && record.hasServerHello { return }
        record.segment(PacketFacts(frame: frame, ts: ts, fromClient: fromClient, ttl: seg.ip.ttl, ipID: seg.ip.ipID,
                                   flags: seg.tcpFlags), payloadLength: seg.payload.count)
        if fromClient && !seg.payload.isEmpty && !record.hasFirstClientData { record.clientData(seg.payload, frame: frame, ts: ts) }
        // Not TLS: followed only until the reset-injection judgement has what it needs.
        if watchingResets && record.resetWatchIsOver { isFinished = true }
        var copy = seg
        copy.payload = UnsafeRawBufferPointer(start: nil, count: 0)
        if fromClient { lastClient = copy } else { lastServer = copy }
    }

    func data(_ bytes: UnsafeRawBufferPointer, fromClient: Bool, frame: UInt64, at ts: Timestamp) -> Bool {
        if let dns { return dns.data(bytes, fromClient: fromClient, frame: frame, at: ts) }
        if let doh { return dohData(doh, bytes, fromClient: fromClient, frame: frame, at: ts) }
        if plainWeb { return plainWebData(fromClient: fromClient) }
        if fromClient && !clientSpoke {
            clientSpoke = true
            if sniffing && DoHStreamDecoder.looksLikeHTTPClient(bytes) {
                // Plain web traffic, told from the first request's bytes: what a DoH stage would
                // decide at once (it gives up), without making one.
                if lastClient != nil && DoHStreamDecoder.isPlainHTTPRequest(bytes) {
                    plainWeb = true
                    return plainWebData(fromClient: true)
                }
                let stage = DoHStreamStage(sink: sink)
                doh = stage
                return dohData(stage, bytes, fromClient: true, frame: frame, at: ts)
            }
            if sniffDNS && DNSContentCheck.looksLikeDNSOverTCP(bytes) {
                let stage = DNSStreamStage(sink: sink, flavor: .dns)
                stage.lastFromClient = lastClient
                stage.lastFromServer = lastServer
                dns = stage
                sink.dnsRecognisedOnStream()
                return stage.data(bytes, fromClient: true, frame: frame, at: ts)
            }
        }
        guard let seg = fromClient ? lastClient : lastServer else { return true }
        // The shared event array: taken for this call, given back emptied with its capacity.
        var events = scratch.events
        scratch.events = []
        defer {
            events.removeAll(keepingCapacity: true)
            scratch.events = events
        }
        if fromClient { clientSide.feed(bytes, into: &events) } else { serverSide.feed(bytes, into: &events) }
        for e in events {
            switch e {
            case .handshake(let type, let body):
                if type == TLSHandshakeType.clientHello && fromClient {
                    if let scan = sink.tlsClientHello(body, seg: seg, frame: frame, ts: ts) {
                        record.sawClientHello(sni: scan.sni, frame: frame, ts: ts)
                    }
                } else if type == TLSHandshakeType.certificate && !fromClient {
                    sink.tlsCertificate(body, record: record, frame: frame, ts: ts)
                } else if type == TLSHandshakeType.serverHello && !fromClient {
                    if sink.tlsServerHello(body, seg: seg, frame: frame, ts: ts) {
                        record.sawServerHello(frame: frame, ts: ts)
                    }
                }
            case .alert(let level, let description):
                record.sawAlert(TLSAlert(level: level, description: description), fromClient: fromClient, frame: frame)
            case .notTLS:
                if fromClient && sniffing && !record.hasClientHello {
                    // Not TLS: kept a few packets more for resets injected after the client's first data.
                    if record.hasFirstClientData && !record.resetWatchIsOver { watchingResets = true } else { isFinished = true }
                }
            case .malformed:
                sink.tlsMalformedRecord()
            default:
                break
            }
        }
        let done = fromClient ? clientSide.isDone : serverSide.isDone
        if fromClient { clientDone = done } else { serverDone = done }
        return !done
    }

    func gap(fromClient: Bool, bytes: Int) {
        if let dns {
            dns.gap(fromClient: fromClient, bytes: bytes)
            return
        }
        // A hole in the handshake: the record layer cannot resynchronise.
        if fromClient { clientDone = true } else { serverDone = true }
    }

    /// HTTP on a sniffed port: DoH messages to the sink; once it is plain web traffic, only the
    /// reset watch goes on.
    private func dohData(_ stage: DoHStreamStage<Sink>, _ bytes: UnsafeRawBufferPointer, fromClient: Bool, frame: UInt64,
                         at ts: Timestamp) -> Bool {
        guard let seg = fromClient ? lastClient : lastServer else { return true }
        if stage.data(bytes, seg: seg, fromClient: fromClient, frame: frame, at: ts) { return true }
        if !record.resetWatchIsOver { watchingResets = true } else { isFinished = true }
        return false
    }

    /// Bytes of a connection whose client's first request was plain HTTP: as `dohData` with a
    /// DoH stage that gave up (only the reset watch goes on).
    private func plainWebData(fromClient: Bool) -> Bool {
        guard (fromClient ? lastClient : lastServer) != nil else { return true }
        if !record.resetWatchIsOver { watchingResets = true } else { isFinished = true }
        return false
    }

    func closed(_ reason: TCPCloseReason, at ts: Timestamp) {
        if dns != nil { return }  // DNS over TCP, not TLS
        if isFinished && !record.hasClientHello && !record.hasFirstClientData { return }  // not TLS after all, nothing said
        sink.tlsConnectionEnded(record)
    }
}

/// Does this payload start like a TLS handshake record (ContentType 22, version 3.x)?
@inline(__always)
func looksLikeTLSHandshake(_ p: UnsafeRawBufferPointer) -> Bool {
    p.count >= 3 && p[0] == 0x16 && p[1] == 0x03 && p[2] <= 0x04
}

/// Reassembles client Initial CRYPTO data per QUIC connection (bounded) and yields ClientHellos.
struct QUICClientHelloFinder {
    struct Key: Hashable {
        var client: IPAddress
        var clientPort: UInt16
        var server: IPAddress
        var serverPort: UInt16
    }

    var decryptor = QUICInitialDecryptor(side: .client)
    var pending: [Key: QUICCryptoAssembler] = [:]
    var done: Set<Key> = []
    var initials = 0
    var undecryptable = 0
    let maxConnections = 4096

    /// Returns the ClientHello body when this datagram completes one.
    mutating func feed(_ payload: UnsafeRawBufferPointer, key: Key) -> [UInt8]? {
        guard !done.contains(key) else { return nil }
        let d = decryptor.decrypt(datagram: payload)
        if d.initials.isEmpty {
            if !d.errors.isEmpty { undecryptable += 1 }
            return nil
        }
        initials += d.initials.count
        let waiting = pending[key]
        if waiting == nil && pending.count >= maxConnections { pending.removeAll(keepingCapacity: true) }
        var asm = waiting ?? QUICCryptoAssembler()
        for p in d.initials {
            for f in p.cryptoFrames {
                if let body = asm.add(f) {
                    if waiting != nil { pending.removeValue(forKey: key) }
                    if done.count >= maxConnections * 4 { done.removeAll(keepingCapacity: true) }
                    done.insert(key)
                    return body
                }
            }
        }
        if asm.overflowed || asm.wrongType {
            pending.removeValue(forKey: key)
            done.insert(key)
        } else {
            pending[key] = asm
        }
        return nil
    }
}
