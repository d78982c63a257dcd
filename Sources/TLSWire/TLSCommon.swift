import WireBytes

/// Well-known TLS code points used by the parsers and fingerprints.
public enum TLSContentType {
    public static let changeCipherSpec: UInt8 = 20
    public static let alert: UInt8 = 21
    public static let handshake: UInt8 = 22
    public static let applicationData: UInt8 = 23
    public static let heartbeat: UInt8 = 24
}

public enum TLSHandshakeType {
    public static let helloRequest: UInt8 = 0
    public static let clientHello: UInt8 = 1
    public static let serverHello: UInt8 = 2
    public static let newSessionTicket: UInt8 = 4
    public static let endOfEarlyData: UInt8 = 5
    public static let encryptedExtensions: UInt8 = 8
    public static let certificate: UInt8 = 11
    public static let serverKeyExchange: UInt8 = 12
    public static let certificateRequest: UInt8 = 13
    public static let serverHelloDone: UInt8 = 14
    public static let certificateVerify: UInt8 = 15
    public static let clientKeyExchange: UInt8 = 16
    public static let finished: UInt8 = 20
}

public enum TLSExtensionType {
    public static let serverName: UInt16 = 0x0000
    public static let supportedGroups: UInt16 = 0x000a
    public static let ecPointFormats: UInt16 = 0x000b
    public static let signatureAlgorithms: UInt16 = 0x000d
    public static let alpn: UInt16 = 0x0010
    public static let padding: UInt16 = 0x0015
    public static let preSharedKey: UInt16 = 0x0029
    public static let supportedVersions: UInt16 = 0x002b
    public static let keyShare: UInt16 = 0x0033
    public static let quicTransportParameters: UInt16 = 0x0039
    public static let encryptedClientHello: UInt16 = 0xfe0d
    public static let esni: UInt16 = 0xffce
    public static let esniDraft: UInt16 = 0xffcd
}

/// One extension as it appeared on the wire.
public struct TLSExtension: Sendable, Equatable, Hashable {
    public var type: UInt16
    public var data: [UInt8]

    public init(type: UInt16, data: [UInt8]) {
        self.type = type
        self.data = data
    }
}

/// RFC 8701 GREASE values: 0x0a0a, 0x1a1a, … 0xfafa.
@inlinable
public func isGREASE(_ v: UInt16) -> Bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Human name of a protocol version: "1.3", "1.2", "1.1", "1.0", "ssl3.0", "ssl2.0",
/// "dtls1.0", "dtls1.2", "dtls1.3", else "0x…".
public func tlsVersionName(_ v: UInt16) -> String {
    switch v {
    case 0x0304: return "1.3"
    case 0x0303: return "1.2"
    case 0x0302: return "1.1"
    case 0x0301: return "1.0"
    case 0x0300: return "ssl3.0"
    case 0x0200, 0x0002: return "ssl2.0"
    case 0xfeff: return "dtls1.0"
    case 0xfefd: return "dtls1.2"
    case 0xfefc: return "dtls1.3"
    default: return "0x" + hex4(v)
    }
}

/// Four lowercase hex digits.
@usableFromInline
func hex4(_ v: UInt16) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    let bytes: [UInt8] = [
        digits[Int((v >> 12) & 0xf)], digits[Int((v >> 8) & 0xf)],
        digits[Int((v >> 4) & 0xf)], digits[Int(v & 0xf)],
    ]
    return String(decoding: bytes, as: UTF8.self)
}

/// Read a list of 16-bit values prefixed by a length of `prefix` bytes (1 or 2).
/// Returns nil when the framing is inconsistent (odd length, overrun).
func readU16List(_ c: inout ByteCursor, lengthBytes prefix: Int) -> [UInt16]? {
    let len: Int
    if prefix == 1 {
        guard let l = c.u8() else { return nil }
        len = Int(l)
    } else {
        guard let l = c.u16() else { return nil }
        len = Int(l)
    }
    guard len % 2 == 0, let s = c.slice(len) else { return nil }
    var out = [UInt16]()
    out.reserveCapacity(len / 2)
    var i = 0
    while i + 1 < s.count {
        out.append(UInt16(s[i]) << 8 | UInt16(s[i + 1]))
        i += 2
    }
    return out
}

/// The optional extensions block that ends a ClientHello or ServerHello (RFC 8446 §4.1.2-3),
/// read from `c` (just past the fixed fields): absent when nothing is left; otherwise a 2-byte
/// length and (type, length, body) entries, each passed to `visit`. Returns whether the block
/// is present; nil when the framing is broken, a single stray byte included. Shared by the
/// parses and their allocation-free checks, so that both accept exactly the same hellos.
@inline(__always)
func walkHelloExtensions(_ c: inout ByteCursor, _ visit: (UInt16, UnsafeRawBufferPointer) -> Void) -> Bool? {
    if c.remaining == 1 { return nil }
    guard c.remaining >= 2 else { return false }
    guard let extLen = c.u16(), let block = c.slice(Int(extLen)) else { return nil }
    var ec = ByteCursor(block)
    while !ec.isAtEnd {
        guard let t = ec.u16(), let l = ec.u16(), let d = ec.slice(Int(l)) else { return nil }
        visit(t, d)
    }
    return true
}

/// The fields a ClientHello and a ServerHello both start with (RFC 8446 §4.1.2-3):
/// legacy_version, the 32-byte random and a legacy_session_id of at most 32 bytes; nil when
/// they do not fit.
@inline(__always)
func readHelloStart(_ c: inout ByteCursor) -> (version: UInt16, random: UnsafeRawBufferPointer, sessionID: UnsafeRawBufferPointer)? {
    guard let version = c.u16(), let random = c.slice(32), let sidLen = c.u8(), sidLen <= 32,
          let sid = c.slice(Int(sidLen))
    else { return nil }
    return (version, random, sid)
}
