import WireBytes

/// A parsed TLS ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2).
///
/// Lists keep wire order and GREASE values; decoded extension contents are best effort:
/// a malformed extension body leaves its decoded field empty but does not reject the hello
/// (the extension type still counts for fingerprints).
public struct ClientHello: Sendable, Equatable {
    public var legacyVersion: UInt16
    public var random: [UInt8]
    public var sessionID: [UInt8]
    /// Cipher suites in wire order, GREASE included.
    public var cipherSuites: [UInt16]
    public var compressionMethods: [UInt8]
    /// Extensions in wire order, GREASE included.
    public var extensions: [TLSExtension]
    /// Whether the hello had an extensions block at all (SSL 3.0 / early TLS may not).
    public var hasExtensionsBlock: Bool

    // Decoded extension contents.
    /// First `host_name` entry of server_name (0), decoded as UTF-8 (invalid bytes replaced).
    public var sni: String?
    /// Raw bytes of that host name.
    public var sniBytes: [UInt8]?
    /// application_layer_protocol_negotiation (16) protocol names in wire order.
    public var alpn: [[UInt8]]
    /// supported_versions (43), wire order, GREASE included.
    public var supportedVersions: [UInt16]
    /// supported_groups (10), wire order, GREASE included.
    public var supportedGroups: [UInt16]
    /// ec_point_formats (11).
    public var ecPointFormats: [UInt8]
    /// signature_algorithms (13), wire order, GREASE included.
    public var signatureAlgorithms: [UInt16]
    /// Groups of the key_share (51) entries, wire order, GREASE included.
    public var keyShareGroups: [UInt16]

    public init(
        legacyVersion: UInt16, random: [UInt8], sessionID: [UInt8], cipherSuites: [UInt16],
        compressionMethods: [UInt8], extensions: [TLSExtension], hasExtensionsBlock: Bool = true
    ) {
        self.legacyVersion = legacyVersion
        self.random = random
        self.sessionID = sessionID
        self.cipherSuites = cipherSuites
        self.compressionMethods = compressionMethods
        self.extensions = extensions
        self.hasExtensionsBlock = hasExtensionsBlock || !extensions.isEmpty
        self.alpn = []
        self.supportedVersions = []
        self.supportedGroups = []
        self.ecPointFormats = []
        self.signatureAlgorithms = []
        self.keyShareGroups = []
        decodeExtensions()
    }

    /// Extension types in wire order, GREASE included.
    public var extensionTypes: [UInt16] { extensions.map(\.type) }

    public func hasExtension(_ type: UInt16) -> Bool {
        extensions.contains { $0.type == type }
    }

    /// Encrypted Client Hello (0xfe0d) offered (GREASE-ECH included: it uses the same code point).
    public var hasECH: Bool { hasExtension(TLSExtensionType.encryptedClientHello) }

    /// Draft ESNI (0xffce or 0xffcd) offered.
    public var hasESNI: Bool {
        hasExtension(TLSExtensionType.esni) || hasExtension(TLSExtensionType.esniDraft)
    }

    /// Highest non-GREASE supported_versions entry when that extension lists one, else legacy_version.
    public var highestOfferedVersion: UInt16 {
        var best: UInt16? = nil
        for v in supportedVersions where !isGREASE(v) {
            if let b = best {
                if v > b { best = v }
            } else {
                best = v
            }
        }
        return best ?? legacyVersion
    }

    /// `highestOfferedVersion` as "1.3", "1.2", "1.1", "1.0", "ssl3.0", …
    public var versionString: String { tlsVersionName(highestOfferedVersion) }

    /// Parse a ClientHello handshake body (the bytes after the 4-byte handshake header).
    /// Returns nil when the fixed fields or the extension framing are malformed.
    public static func parse(_ body: UnsafeRawBufferPointer) -> ClientHello? {
        var exts = [TLSExtension]()
        guard let f = walkFraming(body, { t, d in exts.append(TLSExtension(type: t, data: [UInt8](d))) }) else { return nil }
        var ciphers = [UInt16]()
        ciphers.reserveCapacity(f.cipherSuites.count / 2)
        var i = 0
        while i + 1 < f.cipherSuites.count {
            ciphers.append(UInt16(f.cipherSuites[i]) << 8 | UInt16(f.cipherSuites[i + 1]))
            i += 2
        }
        return ClientHello(
            legacyVersion: f.legacyVersion, random: [UInt8](f.random), sessionID: [UInt8](f.sessionID),
            cipherSuites: ciphers, compressionMethods: [UInt8](f.compressionMethods), extensions: exts,
            hasExtensionsBlock: f.hasExtensionsBlock)
    }

    /// The fixed fields of a hello, as views into its body.
    struct Fixed {
        var legacyVersion: UInt16
        var random: UnsafeRawBufferPointer
        var sessionID: UnsafeRawBufferPointer
        var cipherSuites: UnsafeRawBufferPointer
        var compressionMethods: UnsafeRawBufferPointer
        var hasExtensionsBlock: Bool
    }

    /// The one reading of a ClientHello's framing, for `parse` and the allocation-free checks
    /// below: the fixed fields, then the extensions block, calling `visit` with each extension's
    /// type and body. Nil when the hello is malformed.
    @inline(__always)
    static func walkFraming(_ body: UnsafeRawBufferPointer, _ visit: (UInt16, UnsafeRawBufferPointer) -> Void) -> Fixed? {
        var c = ByteCursor(body)
        guard let start = readHelloStart(&c),
              let csLen = c.u16(), csLen % 2 == 0,
              let cs = c.slice(Int(csLen)),
              let cmLen = c.u8(),
              let cm = c.slice(Int(cmLen))
        else { return nil }
        guard let hasBlock = walkHelloExtensions(&c, visit) else { return nil }
        return Fixed(legacyVersion: start.version, random: start.random, sessionID: start.sessionID, cipherSuites: cs,
                     compressionMethods: cm, hasExtensionsBlock: hasBlock)
    }

    /// Whether `parse(body)` would succeed with a supported_versions list that contains TLS 1.3
    /// (0x0304) — found without building the hello (no allocation). The handshake reassembler
    /// needs only this fact; the full parse happens once, where the hello is used.
    public static func offersTLS13(_ body: UnsafeRawBufferPointer) -> Bool {
        var offers = false
        var seenSV = false
        let wellFramed = walkFraming(body) { t, d in
            // The first supported_versions decides.
            guard t == TLSExtensionType.supportedVersions, !seenSV else { return }
            seenSV = true
            var vc = ByteCursor(d)
            guard let listLen = vc.u8(), listLen % 2 == 0, let list = vc.slice(Int(listLen)) else { return }
            var i = 0
            while i + 1 < list.count {
                if list[i] == 0x03 && list[i + 1] == 0x04 { offers = true }
                i += 2
            }
        }
        return wellFramed != nil && offers
    }

    /// What the connection judgement needs of a ClientHello, without building one.
    public struct Scan: Sendable, Equatable {
        /// `sni` of the parsed hello.
        public var sni: String?
        public init(sni: String? = nil) { self.sni = sni }
    }

    /// `Scan` of the hello `parse(body)` would return, or nil exactly when `parse` would fail —
    /// found in one walk with no allocation but the name. Analysis that prints nothing per hello
    /// uses this; the full parse (about 35 allocations) is for decode output.
    public static func scan(_ body: UnsafeRawBufferPointer) -> Scan? {
        var sni: String? = nil
        var seenSNI = false
        let wellFramed = walkFraming(body) { t, d in
            guard t == TLSExtensionType.serverName, !seenSNI else { return }
            seenSNI = true
            // As decodeExtensions: the first host_name entry; a malformed list leaves no name.
            var sc = ByteCursor(d)
            guard let listLen = sc.u16(), let list = sc.slice(Int(listLen)) else { return }
            var lc = ByteCursor(list)
            while !lc.isAtEnd {
                guard let nameType = lc.u8(), let nl = lc.u16(), let name = lc.slice(Int(nl)) else { return }
                if nameType == 0 {
                    sni = String(decoding: name, as: UTF8.self)
                    return
                }
            }
        }
        return wellFramed != nil ? Scan(sni: sni) : nil
    }

    /// Whether a well-framed hello's ALPN list offers DNS over QUIC: `doq` (RFC 9250) or a draft's
    /// `doq-i…`. One walk, no allocation (the QUIC path asks it of every Initial's hello).
    public static func offersDoQ(_ body: UnsafeRawBufferPointer) -> Bool {
        var doq = false
        _ = walkFraming(body) { t, d in
            guard t == TLSExtensionType.alpn, !doq else { return }
            var c = ByteCursor(d)
            guard let listLen = c.u16(), let list = c.slice(Int(listLen)) else { return }
            var lc = ByteCursor(list)
            while !lc.isAtEnd {
                guard let n = lc.u8(), let p = lc.slice(Int(n)) else { return }
                if p.count >= 3, p[0] == UInt8(ascii: "d"), p[1] == UInt8(ascii: "o"), p[2] == UInt8(ascii: "q"),
                   p.count == 3 || (p.count > 4 && p[3] == UInt8(ascii: "-") && p[4] == UInt8(ascii: "i")) {
                    doq = true
                    return
                }
            }
        }
        return doq
    }

    /// Parse a ClientHello body held in an array.
    public static func parse(_ body: [UInt8]) -> ClientHello? {
        body.withUnsafeBytes { parse($0) }
    }

    private mutating func decodeExtensions() {
        var seenSNI = false, seenALPN = false, seenSV = false, seenGroups = false
        var seenPF = false, seenSig = false, seenKS = false
        for ext in extensions {
            ext.data.withUnsafeBytes { raw in
                var c = ByteCursor(raw)
                switch ext.type {
                case TLSExtensionType.serverName where !seenSNI:
                    seenSNI = true
                    guard let listLen = c.u16(), let list = c.slice(Int(listLen)) else { return }
                    var lc = ByteCursor(list)
                    while !lc.isAtEnd {
                        guard let nameType = lc.u8(), let nl = lc.u16(), let name = lc.slice(Int(nl)) else { return }
                        if nameType == 0 {
                            let bytes = [UInt8](name)
                            sniBytes = bytes
                            sni = String(decoding: bytes, as: UTF8.self)
                            return
                        }
                    }
                case TLSExtensionType.alpn where !seenALPN:
                    seenALPN = true
                    guard let listLen = c.u16(), let list = c.slice(Int(listLen)) else { return }
                    var lc = ByteCursor(list)
                    var out = [[UInt8]]()
                    while !lc.isAtEnd {
                        guard let l = lc.u8(), let p = lc.slice(Int(l)) else { break }
                        out.append([UInt8](p))
                    }
                    alpn = out
                case TLSExtensionType.supportedVersions where !seenSV:
                    seenSV = true
                    supportedVersions = readU16List(&c, lengthBytes: 1) ?? []
                case TLSExtensionType.supportedGroups where !seenGroups:
                    seenGroups = true
                    supportedGroups = readU16List(&c, lengthBytes: 2) ?? []
                case TLSExtensionType.ecPointFormats where !seenPF:
                    seenPF = true
                    guard let l = c.u8(), let s = c.slice(Int(l)) else { return }
                    ecPointFormats = [UInt8](s)
                case TLSExtensionType.signatureAlgorithms where !seenSig:
                    seenSig = true
                    signatureAlgorithms = readU16List(&c, lengthBytes: 2) ?? []
                case TLSExtensionType.keyShare where !seenKS:
                    seenKS = true
                    guard let l = c.u16(), let s = c.slice(Int(l)) else { return }
                    var kc = ByteCursor(s)
                    var groups = [UInt16]()
                    while !kc.isAtEnd {
                        guard let g = kc.u16(), let kl = kc.u16(), kc.skip(Int(kl)) else { break }
                        groups.append(g)
                    }
                    keyShareGroups = groups
                default:
                    break
                }
            }
        }
    }
}
