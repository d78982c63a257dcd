import Crypto
import _CryptoExtras
import WireBytes

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// QUIC versions whose Initial packets can be decrypted (RFC 9000/9001, RFC 9369).
public enum QUICVersion {
    public static let v1: UInt32 = 0x0000_0001
    public static let v2: UInt32 = 0x6b33_43cf

    /// IETF drafts 29 to 34 (0xff00001d–0xff000022): v1's packet layout and labels, their own salts.
    public static let draft29: UInt32 = 0xff00_001d
    public static let draft34: UInt32 = 0xff00_0022

    public static func isSupported(_ v: UInt32) -> Bool { v == v1 || v == v2 || (draft29...draft34).contains(v) }

    /// The draft number of an IETF draft version (0xff0000NN), else nil.
    public static func draftNumber(_ v: UInt32) -> Int? { v & 0xffff_ff00 == 0xff00_0000 ? Int(v & 0xff) : nil }

    /// Version-specific Initial salt.
    static func initialSalt(_ v: UInt32) -> [UInt8]? {
        switch v {
        case v1:
            return [0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                    0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a]
        case 0xff00_001d...0xff00_0020:
            // draft-ietf-quic-tls-29 to -32 §5.2.
            return [0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97,
                    0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99]
        case 0xff00_0021, 0xff00_0022:
            // draft-ietf-quic-tls-33 and -34 already use the salt RFC 9001 kept.
            return initialSalt(v1)
        case v2:
            return [0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                    0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9]
        default:
            return nil
        }
    }

    /// The two-bit long-header packet type of Initial packets (v2 renumbers them).
    static func initialTypeBits(_ v: UInt32) -> UInt8 { v == v2 ? 0b01 : 0b00 }
    static func retryTypeBits(_ v: UInt32) -> UInt8 { v == v2 ? 0b00 : 0b11 }
}

/// Which endpoint's Initial packets to decrypt.
public enum QUICSide: Sendable, Equatable {
    case client, server
}

/// AEAD and header-protection keys of one side's Initial packets.
public struct QUICInitialKeys: Sendable {
    public let version: UInt32
    public let key: SymmetricKey
    public let iv: [UInt8]
    public let hp: SymmetricKey

    /// Derive from the Destination Connection ID of the client's first Initial packet.
    public init?(version: UInt32, initialDCID: [UInt8], side: QUICSide) {
        guard let salted = Labels.salted(version) else { return nil }
        // HKDF with SHA-256 (RFC 5869): every output here is at most one hash long, so Expand is
        // a single HMAC. The salt's keyed state is made once per version, the side secret's once
        // per connection (three expansions). Every new QUIC connection in a capture pays for this.
        let labels = version == QUICVersion.v2 ? Labels.v2 : Labels.v1
        let initialSecret = initialDCID.withUnsafeBytes { salted.mac($0) }
        let sideSecret = initialSecret.withUnsafeBytes { secret in
            KeyedSHA256(key: secret).expand(side == .client ? Labels.clientIn : Labels.serverIn, 32)
        }
        let keyed = sideSecret.withUnsafeBytes { KeyedSHA256(key: $0) }
        self.version = version
        self.key = SymmetricKey(data: keyed.expand(labels.key, 16))
        self.iv = keyed.expand(labels.iv, 12)
        self.hp = SymmetricKey(data: keyed.expand(labels.hp, 16))
    }

    /// HkdfLabel info blocks (RFC 8446 §7.1: length, "tls13 " label, empty context) followed by
    /// HKDF-Expand's counter byte 1, and the salt-keyed state of each version.
    struct Labels {
        var key: [UInt8], iv: [UInt8], hp: [UInt8]

        static func info(_ label: String, _ length: Int) -> [UInt8] {
            let l = Array(label.utf8)
            return [UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length), UInt8(l.count)] + l + [0, 1]
        }
        static let clientIn = info("tls13 client in", 32)
        static let serverIn = info("tls13 server in", 32)
        static let v1 = Labels(key: info("tls13 quic key", 16), iv: info("tls13 quic iv", 12), hp: info("tls13 quic hp", 16))
        static let v2 = Labels(key: info("tls13 quicv2 key", 16), iv: info("tls13 quicv2 iv", 12), hp: info("tls13 quicv2 hp", 16))
        static let saltedV1 = keyedSalt(QUICVersion.v1)
        static let saltedV2 = keyedSalt(QUICVersion.v2)
        /// The version's salt as a keyed state (made once per version: see `salted`).
        static func keyedSalt(_ version: UInt32) -> KeyedSHA256? {
            QUICVersion.initialSalt(version).map { salt in salt.withUnsafeBytes { KeyedSHA256(key: $0) } }
        }
        static func salted(_ version: UInt32) -> KeyedSHA256? {
            switch version {
            case QUICVersion.v1: return saltedV1
            case QUICVersion.v2: return saltedV2
            default: return keyedSalt(version)
            }
        }
    }
}

/// HMAC-SHA256 (RFC 2104) keyed once: swift-crypto's SHA-256 states after the key's inner and
/// outer pads, copied for each message. It computes exactly what swift-crypto's `HMAC<SHA256>`
/// does (the tests hold it to that and to RFC 4231's vectors); it exists because the generic
/// `HMAC` costs several times the hashing itself in generic-metadata work per call, and QUIC
/// key derivation makes five of them for every new connection in a capture.
struct KeyedSHA256: Sendable {
    private var inner = SHA256()
    private var outer = SHA256()

    init(key: UnsafeRawBufferPointer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: SHA256.blockByteCount) { block in
            block.initialize(repeating: 0)
            if key.count > SHA256.blockByteCount {
                var h = SHA256()
                h.update(bufferPointer: key)
                h.finalize().withUnsafeBytes { d in for i in 0..<d.count { block[i] = d[i] } }
            } else {
                for i in 0..<key.count { block[i] = key[i] }
            }
            for i in block.indices { block[i] ^= 0x36 }
            inner.update(bufferPointer: UnsafeRawBufferPointer(block))
            for i in block.indices { block[i] ^= 0x36 ^ 0x5c }
            outer.update(bufferPointer: UnsafeRawBufferPointer(block))
        }
    }

    /// HMAC(key, message).
    func mac(_ message: UnsafeRawBufferPointer) -> SHA256Digest {
        var i = inner
        i.update(bufferPointer: message)
        var o = outer
        i.finalize().withUnsafeBytes { o.update(bufferPointer: $0) }
        return o.finalize()
    }

    /// HKDF-Expand for outputs of at most one hash: T(1) = HMAC(secret, info || 0x01).
    func expand(_ infoAndCounter: [UInt8], _ length: Int) -> [UInt8] {
        infoAndCounter.withUnsafeBytes { mac($0) }.withUnsafeBytes { Array($0.prefix(length)) }
    }
}

extension QUICInitialKeys {
    /// The 5 header-protection mask bytes used (RFC 9001 §5.4.3) for a 16-byte sample.
    public func headerProtectionMask(sample: [UInt8]) -> [UInt8]? {
        guard sample.count == 16 else { return nil }
        var block = sample
        do {
            try AES.permute(&block, key: hp)
        } catch {
            return nil
        }
        return Array(block.prefix(5))
    }

    /// Build a protected Initial packet carrying `frames` (generators and tests). The frames
    /// are zero-padded (PADDING) so that the header-protection sample exists, and further to
    /// `padTo` total bytes when given. Returns nil for invalid sizes.
    public func sealInitial(dcid: [UInt8], scid: [UInt8], token: [UInt8] = [], packetNumber: UInt32,
                            packetNumberLength: Int = 4, frames: [UInt8], padTo: Int? = nil) -> [UInt8]? {
        guard (1...4).contains(packetNumberLength), dcid.count <= 20, scid.count <= 20,
              token.count < 16384 else { return nil }
        var header: [UInt8] = [0xc0 | (QUICVersion.initialTypeBits(version) << 4) | UInt8(packetNumberLength - 1)]
        for i in (0..<4).reversed() { header.append(UInt8(truncatingIfNeeded: version >> (8 * UInt32(i)))) }
        header.append(UInt8(dcid.count)); header.append(contentsOf: dcid)
        header.append(UInt8(scid.count)); header.append(contentsOf: scid)
        header.append(contentsOf: Self.varint2(token.count)); header.append(contentsOf: token)
        var payload = frames
        let minPayload = max(0, 4 - packetNumberLength)
        if payload.count < minPayload { payload.append(contentsOf: repeatElement(0, count: minPayload - payload.count)) }
        if let padTo {
            let fixed = header.count + 2 + packetNumberLength + 16
            if padTo > fixed + payload.count { payload.append(contentsOf: repeatElement(0, count: padTo - fixed - payload.count)) }
        }
        let length = packetNumberLength + payload.count + 16
        guard length < 16384 else { return nil }
        header.append(0x40 | UInt8(truncatingIfNeeded: length >> 8))
        header.append(UInt8(truncatingIfNeeded: length))
        let pnOffset = header.count
        for i in (0..<packetNumberLength).reversed() { header.append(UInt8(truncatingIfNeeded: packetNumber >> (8 * UInt32(i)))) }
        var nonceBytes = iv
        for i in 0..<4 { nonceBytes[11 - i] ^= UInt8(truncatingIfNeeded: packetNumber >> (8 * UInt32(i))) }
        guard let nonce = try? AES.GCM.Nonce(data: nonceBytes),
              let box = try? AES.GCM.seal(payload, using: key, nonce: nonce, authenticating: header)
        else { return nil }
        var packet = header
        packet.append(contentsOf: box.ciphertext)
        packet.append(contentsOf: box.tag)
        let sample = Array(packet[(pnOffset + 4)..<(pnOffset + 20)])
        guard let mask = headerProtectionMask(sample: sample) else { return nil }
        packet[0] ^= mask[0] & 0x0f
        for i in 0..<packetNumberLength { packet[pnOffset + i] ^= mask[1 + i] }
        return packet
    }

    private static func varint2(_ v: Int) -> [UInt8] {
        v < 64 ? [UInt8(v)] : [0x40 | UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
    }
}

/// One CRYPTO frame's payload.
public struct QUICCryptoFrame: Sendable, Equatable {
    public var offset: UInt64
    public var data: [UInt8]

    public init(offset: UInt64, data: [UInt8]) {
        self.offset = offset
        self.data = data
    }
}

/// A decrypted Initial packet.
public struct QUICInitialPacket: Sendable, Equatable {
    public var version: UInt32
    public var dcid: [UInt8]
    public var scid: [UInt8]
    public var token: [UInt8]
    public var packetNumber: UInt64
    /// CRYPTO frames in the order they appear in the packet.
    public var cryptoFrames: [QUICCryptoFrame]
    public var sawPing: Bool
    public var sawAck: Bool
    /// CONNECTION_CLOSE (0x1c / 0x1d) contents, when present.
    public var connectionClose: QUICConnectionClose?
    /// The frame type that stopped frame parsing (unknown or malformed), if any.
    public var stoppedAtFrameType: UInt64?
}

public struct QUICConnectionClose: Sendable, Equatable {
    public var errorCode: UInt64
    /// Present for transport-level closes (0x1c).
    public var frameType: UInt64?
    public var reason: [UInt8]
    public var isApplicationClose: Bool

    public init(errorCode: UInt64, frameType: UInt64?, reason: [UInt8], isApplicationClose: Bool) {
        self.errorCode = errorCode
        self.frameType = frameType
        self.reason = reason
        self.isApplicationClose = isApplicationClose
    }
}

/// Why a packet in a datagram could not be used.
public enum QUICInitialError: Error, Sendable, Equatable {
    /// Not a QUIC long-header packet.
    case notLongHeader
    /// A version we have no Initial keys for (or version negotiation, version 0).
    case unsupportedVersion(UInt32)
    /// Header fields run past the datagram.
    case truncated
    /// AEAD authentication failed (wrong keys, corruption, or not actually QUIC).
    case decryptionFailed
}

/// The result of looking at one UDP datagram.
public struct QUICDatagram: Sendable {
    /// Decrypted Initial packets, in datagram order.
    public var initials: [QUICInitialPacket] = []
    /// Long-header packets of other types (Handshake, 0-RTT) that were skipped.
    public var skippedPackets: Int = 0
    /// Problems, in datagram order. Parsing stops at the first header problem.
    public var errors: [QUICInitialError] = []
    /// Whether the first packet was a Retry.
    public var sawRetry = false
}

/// Decrypts the Initial packets of a UDP payload and extracts their CRYPTO frames.
///
/// Keys are derived from each packet's Destination Connection ID unless the caller passes
/// the client's original DCID (needed for server Initials and for client Initials sent
/// after the server chose a new connection ID). The most recent keys are cached.
public struct QUICInitialDecryptor: Sendable {
    public let side: QUICSide
    /// Initial keys per (version, DCID): deriving them (HKDF, AES key schedule) costs more than
    /// decrypting a packet, and a capture interleaves many connections. Bounded: cleared when full.
    private struct KeyID: Hashable, Sendable {
        var version: UInt32
        var dcid: [UInt8]
    }
    private var cache: [KeyID: QUICInitialKeys] = [:]
    private static let maxCachedKeys = 1024

    public init(side: QUICSide = .client) {
        self.side = side
    }

    /// Cheap check: does this datagram start with a long-header Initial of a version we know?
    public static func looksLikeInitial(_ datagram: UnsafeRawBufferPointer) -> Bool {
        guard datagram.count >= 7, datagram[0] & 0x80 != 0, let v = datagram.be32(at: 1),
              QUICVersion.isSupported(v) else { return false }
        return (datagram[0] >> 4) & 0x03 == QUICVersion.initialTypeBits(v)
    }

    public mutating func decrypt(datagram: [UInt8], initialDCID: [UInt8]? = nil) -> QUICDatagram {
        datagram.withUnsafeBytes { decrypt(datagram: $0, initialDCID: initialDCID) }
    }

    public mutating func decrypt(datagram d: UnsafeRawBufferPointer, initialDCID: [UInt8]? = nil) -> QUICDatagram {
        var out = QUICDatagram()
        var start = 0
        var first = true
        while start < d.count {
            let byte0 = d[start]
            if byte0 & 0x80 == 0 {
                // A short-header packet (1-RTT) or padding after coalesced packets: done.
                if first { out.errors.append(.notLongHeader) }
                break
            }
            var c = ByteCursor(d, offset: start + 1)
            guard let version = c.u32() else { out.errors.append(.truncated); break }
            guard QUICVersion.isSupported(version) else {
                out.errors.append(.unsupportedVersion(version))
                break
            }
            guard let dl = c.u8(), dl <= 20, let dcidRaw = c.slice(Int(dl)),
                  let sl = c.u8(), sl <= 20, let scidRaw = c.slice(Int(sl))
            else { out.errors.append(.truncated); break }
            let type = (byte0 >> 4) & 0x03
            if type == QUICVersion.retryTypeBits(version) {
                if first { out.sawRetry = true }
                break
            }
            var token: UnsafeRawBufferPointer? = nil
            if type == QUICVersion.initialTypeBits(version) {
                guard let tl = c.varint(), tl <= UInt64(c.remaining), let t = c.slice(Int(tl)) else {
                    out.errors.append(.truncated); break
                }
                token = t
            }
            guard let length = c.varint(), length <= UInt64(c.remaining) else {
                out.errors.append(.truncated); break
            }
            let pnOffset = c.offset
            let end = pnOffset + Int(length)
            defer { start = end; first = false }
            guard let tok = token else {
                out.skippedPackets += 1
                continue
            }
            let dcid = [UInt8](dcidRaw)
            let keyDCID = initialDCID ?? dcid
            guard let keys = keys(version: version, dcid: keyDCID) else {
                out.errors.append(.unsupportedVersion(version)); break
            }
            switch Self.openInitial(d, start: start, pnOffset: pnOffset, end: end, keys: keys) {
            case .failure(let e):
                out.errors.append(e)
            case .success(let (pn, plaintext)):
                var pkt = QUICInitialPacket(
                    version: version, dcid: dcid, scid: [UInt8](scidRaw), token: [UInt8](tok),
                    packetNumber: pn, cryptoFrames: [], sawPing: false, sawAck: false,
                    connectionClose: nil, stoppedAtFrameType: nil)
                plaintext.withUnsafeBytes { Self.parseFrames($0, into: &pkt) }
                out.initials.append(pkt)
            }
        }
        return out
    }

    private mutating func keys(version: UInt32, dcid: [UInt8]) -> QUICInitialKeys? {
        let id = KeyID(version: version, dcid: dcid)
        if let k = cache[id] { return k }
        guard let k = QUICInitialKeys(version: version, initialDCID: dcid, side: side) else { return nil }
        if cache.count >= Self.maxCachedKeys { cache.removeAll(keepingCapacity: true) }
        cache[id] = k
        return k
    }

    /// Remove header protection and decrypt one Initial packet occupying d[start..<end].
    static func openInitial(_ d: UnsafeRawBufferPointer, start: Int, pnOffset: Int, end: Int,
                            keys: QUICInitialKeys) -> Result<(UInt64, [UInt8]), QUICInitialError> {
        // The sample starts 4 bytes after the packet-number field's start (RFC 9001 §5.4.2).
        guard pnOffset + 4 + 16 <= end, end <= d.count else { return .failure(.truncated) }
        var mask = [UInt8](UnsafeRawBufferPointer(rebasing: d[(pnOffset + 4)..<(pnOffset + 20)]))
        do {
            try AES.permute(&mask, key: keys.hp)
        } catch {
            return .failure(.decryptionFailed)
        }
        let byte0 = d[start] ^ (mask[0] & 0x0f)
        let pnLen = Int(byte0 & 0x03) + 1
        var header = [UInt8](UnsafeRawBufferPointer(rebasing: d[start..<(pnOffset + pnLen)]))
        header[0] = byte0
        var pn: UInt64 = 0
        for i in 0..<pnLen {
            let b = header[pnOffset - start + i] ^ mask[1 + i]
            header[pnOffset - start + i] = b
            pn = pn << 8 | UInt64(b)
        }
        let payloadStart = pnOffset + pnLen
        guard end - payloadStart >= 16 else { return .failure(.truncated) }
        var nonceBytes = keys.iv
        for i in 0..<8 {
            nonceBytes[11 - i] ^= UInt8(truncatingIfNeeded: pn >> (8 * UInt64(i)))
        }
        let ciphertext = UnsafeRawBufferPointer(rebasing: d[payloadStart..<(end - 16)])
        let tag = UnsafeRawBufferPointer(rebasing: d[(end - 16)..<end])
        do {
            let nonce = try AES.GCM.Nonce(data: nonceBytes)
            let box = try AES.GCM.SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag)
            let plain = try AES.GCM.open(box, using: keys.key, authenticating: header)
            return .success((pn, [UInt8](plain)))
        } catch {
            return .failure(.decryptionFailed)
        }
    }

    /// Frames allowed in Initial packets. Stops at the first unknown or malformed frame.
    static func parseFrames(_ p: UnsafeRawBufferPointer, into pkt: inout QUICInitialPacket) {
        var c = ByteCursor(p)
        while !c.isAtEnd {
            guard let type = c.varint() else { pkt.stoppedAtFrameType = nil; return }
            switch type {
            case 0x00:
                // PADDING: skip the whole run (most of a client's first Initial).
                c.offset = endOfZeroRun(p, from: c.offset)
            case 0x01:
                pkt.sawPing = true
            case 0x02, 0x03:
                guard c.varint() != nil, c.varint() != nil, let count = c.varint(), c.varint() != nil else {
                    pkt.stoppedAtFrameType = type; return
                }
                guard count <= UInt64(c.remaining) else { pkt.stoppedAtFrameType = type; return }
                for _ in 0..<count {
                    guard c.varint() != nil, c.varint() != nil else { pkt.stoppedAtFrameType = type; return }
                }
                if type == 0x03 {
                    guard c.varint() != nil, c.varint() != nil, c.varint() != nil else {
                        pkt.stoppedAtFrameType = type; return
                    }
                }
                pkt.sawAck = true
            case 0x06:
                guard let off = c.varint(), let len = c.varint(), len <= UInt64(c.remaining),
                      let data = c.slice(Int(len)) else { pkt.stoppedAtFrameType = type; return }
                pkt.cryptoFrames.append(QUICCryptoFrame(offset: off, data: [UInt8](data)))
            case 0x1c, 0x1d:
                guard let code = c.varint() else { pkt.stoppedAtFrameType = type; return }
                var ft: UInt64? = nil
                if type == 0x1c {
                    guard let f = c.varint() else { pkt.stoppedAtFrameType = type; return }
                    ft = f
                }
                guard let rl = c.varint(), rl <= UInt64(c.remaining), let r = c.slice(Int(rl)) else {
                    pkt.stoppedAtFrameType = type; return
                }
                pkt.connectionClose = QUICConnectionClose(
                    errorCode: code, frameType: ft, reason: [UInt8](r), isApplicationClose: type == 0x1d)
            default:
                pkt.stoppedAtFrameType = type
                return
            }
        }
    }
}

/// The first offset at or after `from` whose byte is not zero (`p.count` when there is none):
/// eight bytes at a time, then byte by byte.
func endOfZeroRun(_ p: UnsafeRawBufferPointer, from: Int) -> Int {
    guard let base = p.baseAddress else { return from }
    let n = p.count
    var i = from
    while n - i >= 8 && base.loadUnaligned(fromByteOffset: i, as: UInt64.self) == 0 { i += 8 }
    while i < n && base.load(fromByteOffset: i, as: UInt8.self) == 0 { i += 1 }
    return i
}

extension ByteCursor {
    /// A QUIC variable-length integer (RFC 9000 §16).
    mutating func varint() -> UInt64? {
        guard let first = u8() else { return nil }
        let extra: Int
        switch first >> 6 {
        case 0: return UInt64(first)
        case 1: extra = 1
        case 2: extra = 3
        default: extra = 7
        }
        var v = UInt64(first & 0x3f)
        for _ in 0..<extra {
            guard let b = u8() else { return nil }
            v = v << 8 | UInt64(b)
        }
        return v
    }
}

/// Reassembles one connection's CRYPTO stream (one encryption level) from out-of-order
/// pieces, and hands back the first handshake message once it is complete.
public struct QUICCryptoAssembler: Sendable {
    public let expectedType: UInt8
    public let maxBytes: Int
    private var buffer: [UInt8] = []
    /// Received byte ranges, sorted and merged.
    private var ranges: [Range<Int>] = []
    /// Data that lay beyond `maxBytes` was dropped.
    public private(set) var overflowed = false
    /// The first message was complete but of another type than `expectedType`.
    public private(set) var wrongType = false
    /// The message has been returned once; later pieces are ignored.
    public private(set) var isComplete = false

    public init(expectedType: UInt8 = TLSHandshakeType.clientHello, maxBytes: Int = 65536) {
        self.expectedType = expectedType
        self.maxBytes = max(maxBytes, 4)
    }

    /// Contiguous bytes available from offset 0.
    public var contiguousLength: Int {
        if let r = ranges.first, r.lowerBound == 0 { return r.upperBound }
        return 0
    }

    public mutating func add(_ frame: QUICCryptoFrame) -> [UInt8]? {
        add(offset: frame.offset, data: frame.data)
    }

    /// Add a piece; returns the handshake message body (without its 4-byte header) the first
    /// time the message starting at offset 0 is complete and of the expected type.
    public mutating func add(offset: UInt64, data: [UInt8]) -> [UInt8]? {
        guard !isComplete, !wrongType, !data.isEmpty else { return nil }
        guard offset < UInt64(maxBytes), UInt64(data.count) <= UInt64(maxBytes) - offset else {
            overflowed = true
            return nil
        }
        let lo = Int(offset)
        let hi = lo + data.count
        if buffer.count < hi { buffer.append(contentsOf: repeatElement(0, count: hi - buffer.count)) }
        buffer.replaceSubrange(lo..<hi, with: data)
        insert(lo..<hi)
        return completedMessage()
    }

    private mutating func insert(_ r: Range<Int>) {
        var merged = r
        var out: [Range<Int>] = []
        out.reserveCapacity(ranges.count + 1)
        var placed = false
        for x in ranges {
            if x.upperBound < merged.lowerBound {
                out.append(x)
            } else if merged.upperBound < x.lowerBound {
                if !placed { out.append(merged); placed = true }
                out.append(x)
            } else {
                merged = min(x.lowerBound, merged.lowerBound)..<max(x.upperBound, merged.upperBound)
            }
        }
        if !placed { out.append(merged) }
        ranges = out
    }

    private mutating func completedMessage() -> [UInt8]? {
        let have = contiguousLength
        guard have >= 4 else { return nil }
        let len = Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
        guard buffer[0] == expectedType else {
            wrongType = true
            return nil
        }
        guard 4 + len <= maxBytes else {
            overflowed = true
            return nil
        }
        guard have >= 4 + len else { return nil }
        isComplete = true
        return Array(buffer[4..<(4 + len)])
    }
}

/// Stateless conveniences over `QUICInitialDecryptor` and `QUICCryptoAssembler`.
public enum QUICInitial {
    /// Decrypt the client Initial packets of one UDP payload, with keys from each packet's
    /// own Destination Connection ID (right for a client's first flight).
    public static func decryptClientInitial(_ datagram: UnsafeRawBufferPointer) -> QUICDatagram {
        var d = QUICInitialDecryptor(side: .client)
        return d.decrypt(datagram: datagram)
    }

    public static func decryptClientInitial(_ datagram: [UInt8]) -> QUICDatagram {
        datagram.withUnsafeBytes { decryptClientInitial($0) }
    }

    /// The ClientHello body when this one datagram carries all of it (else nil: feed the
    /// pieces of several datagrams to a `QUICCryptoAssembler` instead).
    public static func clientHelloBody(inDatagram datagram: UnsafeRawBufferPointer) -> [UInt8]? {
        let res = decryptClientInitial(datagram)
        var asm = QUICCryptoAssembler()
        for p in res.initials {
            for f in p.cryptoFrames {
                if let body = asm.add(f) { return body }
            }
        }
        return nil
    }
}
