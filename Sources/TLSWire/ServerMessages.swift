import WireBytes

/// A parsed ServerHello (or HelloRetryRequest, which shares its layout).
public struct ServerHello: Sendable, Equatable {
    public var legacyVersion: UInt16
    public var random: [UInt8]
    public var sessionID: [UInt8]
    public var cipherSuite: UInt16
    public var compressionMethod: UInt8
    /// Extensions in wire order.
    public var extensions: [TLSExtension]
    /// The supported_versions (43) selection, when present.
    public var selectedVersion: UInt16?
    /// ALPN (16) protocol the server selected, when present.
    public var selectedALPN: [UInt8]?

    /// SHA-256("HelloRetryRequest"), the special random of a HelloRetryRequest (RFC 8446 §4.1.3).
    public static let helloRetryRequestRandom: [UInt8] = [
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
    ]

    public var isHelloRetryRequest: Bool { random == Self.helloRetryRequestRandom }

    /// The version the server chose: supported_versions when present, else legacy_version.
    public var negotiatedVersion: UInt16 { selectedVersion ?? legacyVersion }

    public var versionString: String { tlsVersionName(negotiatedVersion) }

    /// Parse a ServerHello handshake body (after the 4-byte header).
    public static func parse(_ body: UnsafeRawBufferPointer) -> ServerHello? {
        var exts = [TLSExtension]()
        var selected: UInt16?
        var alpn: [UInt8]?
        guard let f = walkFraming(body, { t, d in
            exts.append(TLSExtension(type: t, data: [UInt8](d)))
            if selected == nil { selected = selectedVersion(t, d) }
            if t == TLSExtensionType.alpn, alpn == nil {
                var ac = ByteCursor(d)
                if ac.u16() != nil, let l = ac.u8(), let p = ac.slice(Int(l)) { alpn = [UInt8](p) }
            }
        }) else { return nil }
        return ServerHello(
            legacyVersion: f.legacyVersion, random: [UInt8](f.random), sessionID: [UInt8](f.sessionID),
            cipherSuite: f.cipherSuite, compressionMethod: f.compressionMethod, extensions: exts,
            selectedVersion: selected, selectedALPN: alpn)
    }

    /// The version a supported_versions extension of a ServerHello selects (RFC 8446 §4.2.1: one
    /// 2-byte version); nil for any other extension or length. The first such extension counts.
    @inline(__always)
    static func selectedVersion(_ type: UInt16, _ data: UnsafeRawBufferPointer) -> UInt16? {
        type == TLSExtensionType.supportedVersions && data.count == 2 ? UInt16(data[0]) << 8 | UInt16(data[1]) : nil
    }

    /// What the record layer needs from a ServerHello, found without building it.
    public struct Scan: Sendable, Equatable {
        /// As `ServerHello.negotiatedVersion`.
        public var negotiatedVersion: UInt16
        /// As `ServerHello.isHelloRetryRequest`.
        public var isHelloRetryRequest: Bool
        public init(negotiatedVersion: UInt16, isHelloRetryRequest: Bool) {
            self.negotiatedVersion = negotiatedVersion
            self.isHelloRetryRequest = isHelloRetryRequest
        }
        /// What `scan` says of the hello `parse` built.
        public init(_ hello: ServerHello) {
            self.init(negotiatedVersion: hello.negotiatedVersion, isHelloRetryRequest: hello.isHelloRetryRequest)
        }
    }

    /// The version the server chose and whether it is a HelloRetryRequest, or nil exactly when
    /// `parse(body)` fails: one walk, no allocation.
    public static func scan(_ body: UnsafeRawBufferPointer) -> Scan? {
        var selected: UInt16?
        guard let f = walkFraming(body, { t, d in
            if selected == nil { selected = selectedVersion(t, d) }
        }) else { return nil }
        let hrr = helloRetryRequestRandom.withUnsafeBytes { f.random.elementsEqual($0) }
        return Scan(negotiatedVersion: selected ?? f.legacyVersion, isHelloRetryRequest: hrr)
    }

    /// The fixed fields of a ServerHello, as views into its body.
    struct Fixed {
        var legacyVersion: UInt16
        var random: UnsafeRawBufferPointer
        var sessionID: UnsafeRawBufferPointer
        var cipherSuite: UInt16
        var compressionMethod: UInt8
    }

    /// The one reading of a ServerHello's framing, for `parse` and `scan`: the fixed fields, then
    /// the extensions block, calling `visit` with each extension. Nil when malformed.
    @inline(__always)
    static func walkFraming(_ body: UnsafeRawBufferPointer, _ visit: (UInt16, UnsafeRawBufferPointer) -> Void) -> Fixed? {
        var c = ByteCursor(body)
        guard let start = readHelloStart(&c), let cipher = c.u16(), let comp = c.u8(), walkHelloExtensions(&c, visit) != nil
        else { return nil }
        return Fixed(legacyVersion: start.version, random: start.random, sessionID: start.sessionID, cipherSuite: cipher,
                     compressionMethod: comp)
    }

    /// Whether `parse(body)` would succeed, found without building the hello.
    public static func isWellFormed(_ body: UnsafeRawBufferPointer) -> Bool { scan(body) != nil }

    public static func parse(_ body: [UInt8]) -> ServerHello? {
        body.withUnsafeBytes { parse($0) }
    }
}

/// A TLS alert (RFC 8446 §6).
public struct TLSAlert: Sendable, Equatable, Hashable {
    public var level: UInt8
    public var description: UInt8

    public init(level: UInt8, description: UInt8) {
        self.level = level
        self.description = description
    }

    public var isFatal: Bool { level == 2 }

    public var levelName: String {
        switch level {
        case 1: return "warning"
        case 2: return "fatal"
        default: return "unknown(\(level))"
        }
    }

    /// The RFC 8446 name (with a few TLS ≤ 1.2 legacy names), else "unknown(N)".
    public var descriptionName: String { Self.name(of: description) }

    public static func name(of description: UInt8) -> String {
        switch description {
        case 0: return "close_notify"
        case 10: return "unexpected_message"
        case 20: return "bad_record_mac"
        case 21: return "decryption_failed"
        case 22: return "record_overflow"
        case 30: return "decompression_failure"
        case 40: return "handshake_failure"
        case 41: return "no_certificate"
        case 42: return "bad_certificate"
        case 43: return "unsupported_certificate"
        case 44: return "certificate_revoked"
        case 45: return "certificate_expired"
        case 46: return "certificate_unknown"
        case 47: return "illegal_parameter"
        case 48: return "unknown_ca"
        case 49: return "access_denied"
        case 50: return "decode_error"
        case 51: return "decrypt_error"
        case 60: return "export_restriction"
        case 70: return "protocol_version"
        case 71: return "insufficient_security"
        case 80: return "internal_error"
        case 86: return "inappropriate_fallback"
        case 90: return "user_canceled"
        case 100: return "no_renegotiation"
        case 109: return "missing_extension"
        case 110: return "unsupported_extension"
        case 111: return "certificate_unobtainable"
        case 112: return "unrecognized_name"
        case 113: return "bad_certificate_status_response"
        case 114: return "bad_certificate_hash_value"
        case 115: return "unknown_psk_identity"
        case 116: return "certificate_required"
        case 120: return "no_application_protocol"
        case 121: return "ech_required"
        default: return "unknown(\(description))"
        }
    }

    /// Parse the two-byte alert record body. Returns nil unless exactly two bytes are present.
    public static func parse(_ body: UnsafeRawBufferPointer) -> TLSAlert? {
        guard body.count == 2 else { return nil }
        return TLSAlert(level: body[0], description: body[1])
    }
}

/// A TLS ≤ 1.2 Certificate message: the DER certificates in the order sent (leaf first).
/// (TLS 1.3 Certificate messages are encrypted and never reach a passive parser.)
public struct CertificateMessage: Sendable, Equatable {
    public var certificates: [[UInt8]]

    public init(certificates: [[UInt8]]) {
        self.certificates = certificates
    }

    /// Parse a Certificate handshake body (after the 4-byte header): a 24-bit list length,
    /// then 24-bit-length-prefixed DER certificates.
    public static func parse(_ body: UnsafeRawBufferPointer) -> CertificateMessage? {
        var c = ByteCursor(body)
        guard let total = c.u24(), let list = c.slice(Int(total)) else { return nil }
        var lc = ByteCursor(list)
        var certs = [[UInt8]]()
        while !lc.isAtEnd {
            guard let l = lc.u24(), let der = lc.slice(Int(l)) else { return nil }
            certs.append([UInt8](der))
        }
        return CertificateMessage(certificates: certs)
    }

    /// Parse a TLS 1.3-layout Certificate body (context, then entries with extensions), for
    /// callers that have decrypted it themselves.
    public static func parseTLS13(_ body: UnsafeRawBufferPointer) -> CertificateMessage? {
        var c = ByteCursor(body)
        guard let ctxLen = c.u8(), c.skip(Int(ctxLen)),
              let total = c.u24(), let list = c.slice(Int(total)) else { return nil }
        var lc = ByteCursor(list)
        var certs = [[UInt8]]()
        while !lc.isAtEnd {
            guard let l = lc.u24(), let der = lc.slice(Int(l)),
                  let el = lc.u16(), lc.skip(Int(el)) else { return nil }
            certs.append([UInt8](der))
        }
        return CertificateMessage(certificates: certs)
    }
}
