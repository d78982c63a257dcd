import WireBytes

/// What the record layer of one direction of a TLS connection revealed.
public enum TLSEvent: Sendable, Equatable {
    /// A complete handshake message (type and body, the 4-byte header removed), possibly
    /// reassembled from several records.
    case handshake(type: UInt8, body: [UInt8])
    /// A plaintext alert.
    case alert(level: UInt8, description: UInt8)
    /// A ChangeCipherSpec record.
    case changeCipherSpec
    /// The first record whose content is encrypted (emitted once; handshake parsing stops).
    case encryptedRecord
    /// The first application_data (23) record. In TLS 1.3 this includes the encrypted
    /// handshake records. After it the reassembler is done.
    case applicationData
    /// Bytes before the first TLS record were skipped (a proxy preamble such as SOCKS or
    /// HTTP CONNECT, or a STARTTLS exchange). Only with `preambleLimit > 0`.
    case skippedPreamble(bytes: Int)
    /// An SSL 2.0-format (or SSLv2-compatible) ClientHello; `version` is the highest
    /// version it offers. The stream is not parsed further.
    case sslv2ClientHello(version: UInt16)
    /// The first bytes do not look like TLS; the reassembler stops.
    case notTLS
    /// A record header or handshake framing broke mid-stream; the reassembler stops.
    case malformed
    /// More than `maxPending` bytes would have had to be buffered; the reassembler stops.
    case overflow
}

/// Parses TLS records from the bytes of ONE direction of a TCP stream, fed in order and in
/// arbitrary chunks, and reassembles handshake messages that span records.
///
/// Memory is bounded: at most one partial record (≤ 18 KiB) plus `maxPending` bytes of
/// partial handshake message. Records that arrive whole inside one chunk are parsed in
/// place without copying.
public struct TLSHandshakeReassembler: Sendable {
    /// Largest TLSCiphertext fragment (RFC 8446 §5.2: 2^14 + 256; TLS 1.2 allows + 2048).
    public static let maxRecordLength = 16384 + 2048

    /// Most bytes of partially received handshake message kept.
    public let maxPending: Int

    /// True once nothing more can be learned (not TLS, malformed, overflow, encrypted
    /// application data reached): the caller can stop feeding.
    public private(set) var isDone = false
    public var consumedAll: Bool { isDone }

    /// Whether records are now encrypted (after ChangeCipherSpec in TLS ≤ 1.2, after a
    /// TLS 1.3 ServerHello).
    public private(set) var isEncrypted = false

    /// The direction, once a ClientHello (client) or ServerHello (server) has been seen.
    public enum Role: Sendable { case client, server }
    public private(set) var role: Role?

    /// Number of complete records parsed.
    public private(set) var recordCount = 0

    private var recordBuffer: [UInt8] = []
    private var handshakeBuffer: [UInt8] = []
    private var started = false
    private var emittedEncrypted = false
    /// Client side: the hello offered TLS 1.3 (supported_versions lists 0x0304).
    private var clientOfferedTLS13 = false
    /// Client side: only ClientHello messages so far (a CCS now is TLS 1.3 compatibility mode).
    private var onlyClientHellos = true
    /// Client side: a compatibility-mode CCS was seen; the next handshake record may still be
    /// a plaintext second ClientHello (after a HelloRetryRequest) or an encrypted Finished.
    private var afterCompatCCS = false
    /// Server side: the server selected TLS 1.3 (in a ServerHello or HelloRetryRequest).
    private var serverSelectedTLS13 = false

    /// With a limit above zero, a stream that does not start with TLS is scanned (up to that
    /// many bytes) for the start of a ClientHello record instead of being given up at once.
    public let preambleLimit: Int
    private var preamble: [UInt8] = []
    private var preambleScanFrom = 0
    private var scanningPreamble: Bool

    public init(maxPending: Int = 65536, preambleLimit: Int = 0) {
        self.maxPending = max(maxPending, 1024)
        self.preambleLimit = max(preambleLimit, 0)
        self.scanningPreamble = preambleLimit > 0
    }

    /// Feed the next bytes of the stream. Returns the events they completed, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [TLSEvent] {
        var events: [TLSEvent] = []
        feed(bytes, into: &events)
        return events
    }

    /// Feed the next bytes of the stream, appending the events they completed to `events` (a
    /// caller that reuses one array allocates nothing for packets that complete nothing).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, into events: inout [TLSEvent]) {
        guard !isDone else { return }
        if scanningPreamble {
            preamble.append(contentsOf: bytes)
            guard let start = findTLSStart() else {
                if preamble.count > preambleLimit + 6 {
                    events.append(.notTLS)
                    stop()
                }
                return
            }
            scanningPreamble = false
            let rest = Array(preamble[start...])
            preamble = []
            if start > 0 { events.append(.skippedPreamble(bytes: start)) }
            rest.withUnsafeBytes { feed($0, into: &events) }
            return
        }
        var pos = 0
        let n = bytes.count

        while !isDone && pos < n {
            if !recordBuffer.isEmpty {
                // Complete the pending record from the new bytes.
                if recordBuffer.count < 5 {
                    let take = min(5 - recordBuffer.count, n - pos)
                    recordBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + take)]))
                    pos += take
                    if recordBuffer.count < 5 { break }
                    if !started, let ev = sslv2Check(recordBuffer) {
                        events.append(ev)
                        stop()
                        break
                    }
                    guard checkHeader(recordBuffer[0], recordBuffer[1], recordBuffer[2],
                                      Int(recordBuffer[3]) << 8 | Int(recordBuffer[4]), &events) else { break }
                }
                if recordBuffer[0] == TLSContentType.applicationData {
                    // Its body is never looked at: finish now instead of buffering up to 16 KiB.
                    recordBuffer.removeAll()
                    processRecord(type: TLSContentType.applicationData, body: UnsafeRawBufferPointer(start: nil, count: 0), &events)
                    break
                }
                let length = Int(recordBuffer[3]) << 8 | Int(recordBuffer[4])
                let need = 5 + length - recordBuffer.count
                let take = min(need, n - pos)
                if take > 0 {
                    recordBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + take)]))
                    pos += take
                }
                if recordBuffer.count < 5 + length { break }
                let record = recordBuffer
                recordBuffer.removeAll(keepingCapacity: true)
                record.withUnsafeBytes { raw in
                    processRecord(type: raw[0], body: UnsafeRawBufferPointer(rebasing: raw[5...]), &events)
                }
            } else {
                let remaining = n - pos
                if remaining < 5 {
                    recordBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[pos...]))
                    pos = n
                    break
                }
                if !started, let ev = sslv2Check(UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + 5)])) {
                    events.append(ev)
                    stop()
                    break
                }
                let type = bytes[pos]
                let length = Int(bytes[pos + 3]) << 8 | Int(bytes[pos + 4])
                guard checkHeader(type, bytes[pos + 1], bytes[pos + 2], length, &events) else { break }
                if type == TLSContentType.applicationData && remaining < 5 + length {
                    // Its body is never looked at: finish now instead of buffering up to 16 KiB.
                    pos = n
                    processRecord(type: type, body: UnsafeRawBufferPointer(start: nil, count: 0), &events)
                    break
                }
                if remaining < 5 + length {
                    recordBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[pos...]))
                    pos = n
                    break
                }
                let body = UnsafeRawBufferPointer(rebasing: bytes[(pos + 5)..<(pos + 5 + length)])
                pos += 5 + length
                processRecord(type: type, body: body, &events)
            }
        }
    }

    /// Convenience for arrays.
    public mutating func feed(_ bytes: [UInt8]) -> [TLSEvent] {
        bytes.withUnsafeBytes { feed($0) }
    }

    // MARK: - Internals

    private mutating func stop() {
        isDone = true
        recordBuffer = []
        handshakeBuffer = []
        preamble = []
    }

    /// Offset of the first plausible TLS start in `preamble`: a valid first record (or SSLv2
    /// hello) at offset 0, else a handshake record holding a ClientHello or ServerHello.
    private mutating func findTLSStart() -> Int? {
        let b = preamble
        var i = preambleScanFrom
        while i + 6 <= b.count && i <= preambleLimit {
            if i == 0 {
                let type = b[0]
                let len = Int(b[3]) << 8 | Int(b[4])
                if (type == TLSContentType.handshake || type == TLSContentType.alert),
                   b[1] == 3, b[2] <= 4, len > 0, len <= Self.maxRecordLength {
                    return 0
                }
                if sslv2Check(b) != nil { return 0 }
            } else if b[i] == TLSContentType.handshake, b[i + 1] == 3, b[i + 2] <= 4,
                      b[i + 5] == TLSHandshakeType.clientHello || b[i + 5] == TLSHandshakeType.serverHello {
                let len = Int(b[i + 3]) << 8 | Int(b[i + 4])
                if len >= 4 && len <= Self.maxRecordLength { return i }
            }
            i += 1
        }
        preambleScanFrom = i
        return nil
    }

    /// An SSLv2 record header with a CLIENT-HELLO message: 2-byte header with the high bit
    /// set, message type 1, then a version. Only checked before the first TLS record.
    private func sslv2Check(_ b: UnsafeRawBufferPointer) -> TLSEvent? {
        guard b.count >= 3, b[0] & 0x80 != 0, b[2] == 1 else { return nil }
        let len = (Int(b[0] & 0x7f) << 8) | Int(b[1])
        guard len >= 9, b.count >= 5 else { return nil }
        let v = UInt16(b[3]) << 8 | UInt16(b[4])
        guard v == 0x0002 || (v >= 0x0300 && v <= 0x0304) else { return nil }
        return .sslv2ClientHello(version: v)
    }

    private func sslv2Check(_ b: [UInt8]) -> TLSEvent? {
        b.withUnsafeBytes { sslv2Check(UnsafeRawBufferPointer(rebasing: $0.prefix(5))) }
    }

    /// Validate a record header. On failure appends the terminal event and stops.
    private mutating func checkHeader(_ type: UInt8, _ major: UInt8, _ minor: UInt8, _ length: Int,
                                      _ events: inout [TLSEvent]) -> Bool {
        if !started {
            guard (type == TLSContentType.handshake || type == TLSContentType.alert),
                  major == 3, minor <= 4, length > 0, length <= Self.maxRecordLength
            else {
                events.append(.notTLS)
                stop()
                return false
            }
            started = true
            return true
        }
        guard type >= TLSContentType.changeCipherSpec, type <= TLSContentType.heartbeat,
              major == 3, minor <= 4, length <= Self.maxRecordLength
        else {
            events.append(.malformed)
            stop()
            return false
        }
        return true
    }

    private mutating func markEncrypted(_ events: inout [TLSEvent]) {
        isEncrypted = true
        handshakeBuffer = []
        if !emittedEncrypted {
            emittedEncrypted = true
            events.append(.encryptedRecord)
        }
    }

    private mutating func processRecord(type: UInt8, body: UnsafeRawBufferPointer, _ events: inout [TLSEvent]) {
        recordCount += 1
        switch type {
        case TLSContentType.changeCipherSpec:
            events.append(.changeCipherSpec)
            handshakeBuffer = []
            switch role {
            case .server:
                if !serverSelectedTLS13 { isEncrypted = true }
            case .client:
                if clientOfferedTLS13 && onlyClientHellos {
                    afterCompatCCS = true
                } else {
                    isEncrypted = true
                }
            case nil:
                isEncrypted = true
            }

        case TLSContentType.alert:
            if isEncrypted {
                markEncrypted(&events)
                return
            }
            // A plaintext alert record holds one or more 2-byte alerts.
            guard body.count >= 2, body.count % 2 == 0 else {
                // An odd-sized alert is an encrypted alert we did not expect, or garbage.
                markEncrypted(&events)
                return
            }
            var i = 0
            while i + 1 < body.count {
                events.append(.alert(level: body[i], description: body[i + 1]))
                i += 2
            }

        case TLSContentType.handshake:
            if isEncrypted {
                markEncrypted(&events)
                return
            }
            if afterCompatCCS {
                afterCompatCCS = false
                if !looksLikePlainClientHello(body) {
                    markEncrypted(&events)
                    return
                }
            }
            processHandshakeBytes(body, &events)

        case TLSContentType.applicationData:
            markEncrypted(&events)
            events.append(.applicationData)
            stop()

        default:
            // Heartbeat (24): nothing to learn.
            break
        }
    }

    /// After a compatibility-mode CCS, only a second ClientHello may follow in plaintext.
    private func looksLikePlainClientHello(_ body: UnsafeRawBufferPointer) -> Bool {
        guard handshakeBuffer.isEmpty, body.count >= 4, body[0] == TLSHandshakeType.clientHello else { return false }
        let len = Int(body[1]) << 16 | Int(body[2]) << 8 | Int(body[3])
        guard len >= 38, len + 4 <= maxPending else { return false }
        if len + 4 <= body.count {
            return ClientHello.parse(UnsafeRawBufferPointer(rebasing: body[4..<(4 + len)])) != nil
        }
        return true
    }

    private mutating func processHandshakeBytes(_ body: UnsafeRawBufferPointer, _ events: inout [TLSEvent]) {
        if handshakeBuffer.isEmpty {
            let consumed = extractMessages(body, &events)
            if isDone || isEncrypted { return }
            if consumed < body.count {
                let rest = body.count - consumed
                guard rest <= maxPending else {
                    events.append(.overflow)
                    stop()
                    return
                }
                handshakeBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: body[consumed...]))
            }
        } else {
            guard handshakeBuffer.count + body.count <= maxPending + 4 else {
                events.append(.overflow)
                stop()
                return
            }
            handshakeBuffer.append(contentsOf: body)
            let buffered = handshakeBuffer
            let consumed = buffered.withUnsafeBytes { extractMessages($0, &events) }
            if isDone || isEncrypted { return }
            if consumed > 0 {
                handshakeBuffer.removeFirst(min(consumed, handshakeBuffer.count))
            }
        }
    }

    /// Emit every complete handshake message at the start of `data`; returns bytes consumed.
    private mutating func extractMessages(_ data: UnsafeRawBufferPointer, _ events: inout [TLSEvent]) -> Int {
        var pos = 0
        while data.count - pos >= 4 {
            let type = data[pos]
            let len = Int(data[pos + 1]) << 16 | Int(data[pos + 2]) << 8 | Int(data[pos + 3])
            guard len <= maxPending else {
                events.append(.overflow)
                stop()
                return pos
            }
            guard data.count - pos - 4 >= len else { break }
            let msg = UnsafeRawBufferPointer(rebasing: data[(pos + 4)..<(pos + 4 + len)])
            pos += 4 + len
            events.append(.handshake(type: type, body: [UInt8](msg)))
            noteHandshake(type: type, body: msg)
            if isEncrypted {
                // A TLS 1.3 ServerHello: what follows is encrypted.
                return pos
            }
        }
        return pos
    }

    private mutating func noteHandshake(type: UInt8, body: UnsafeRawBufferPointer) {
        switch type {
        case TLSHandshakeType.clientHello:
            if role == nil { role = .client }
            if ClientHello.offersTLS13(body) {
                clientOfferedTLS13 = true
            }
        case TLSHandshakeType.serverHello:
            if role == nil { role = .server }
            if let sh = ServerHello.scan(body), sh.negotiatedVersion == 0x0304 {
                serverSelectedTLS13 = true
                if !sh.isHelloRetryRequest {
                    // Everything after a TLS 1.3 ServerHello is encrypted.
                    isEncrypted = true
                    handshakeBuffer = []
                }
            }
        default:
            if role == .client { onlyClientHellos = false }
        }
    }
}
