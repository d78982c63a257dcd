import Crypto

/// JA3 (salesforce/ja3): `SSLVersion,Ciphers,Extensions,EllipticCurves,ECPointFormats` in
/// decimal, values joined by `-`, GREASE removed from every list; the hash is the lowercase
/// MD5 hex of that string.
public enum JA3 {
    public static func string(_ ch: ClientHello) -> String {
        func join(_ values: [UInt16]) -> String {
            values.lazy.filter { !isGREASE($0) }.map { String($0) }.joined(separator: "-")
        }
        let fields = [
            String(ch.legacyVersion),
            join(ch.cipherSuites),
            join(ch.extensionTypes),
            join(ch.supportedGroups),
            ch.ecPointFormats.map { String($0) }.joined(separator: "-"),
        ]
        return fields.joined(separator: ",")
    }

    public static func compute(_ ch: ClientHello) -> (string: String, hash: String) {
        let s = string(ch)
        let digest = Insecure.MD5.hash(data: Array(s.utf8))
        return (s, lowercaseHex(digest))
    }
}

/// The transport a ClientHello travelled on, the first character of JA4.
public enum JA4Transport: Sendable, Equatable {
    case tcp, quic, dtls

    public var marker: String {
        switch self {
        case .tcp: return "t"
        case .quic: return "q"
        case .dtls: return "d"
        }
    }
}

/// JA4 (FoxIO, BSD-3-Clause), TLS client fingerprint only: `a_b_c`.
///
/// Conformance choices, checked against the FoxIO reference outputs
/// (captures-real/ja4/*.truth), Arkime, nDPI and suricata-verify:
/// - GREASE is removed from ciphers, extensions, supported_versions and signature
///   algorithms (FoxIO issue #60/#305).
/// - `d`/`i` follows the presence of the server_name extension, not whether it parses.
/// - ALPN: first and last byte of the first ALPN value when both are ASCII alphanumeric;
///   when either is not ASCII at all the FoxIO implementations write `99` (vector
///   tls-non-ascii-alpn: `0xba 0xad` → `99`); otherwise (ASCII but not alphanumeric) the
///   spec's first and last hex digit of the value. A one-byte value repeats its character.
/// - Empty lists hash to `000000000000`; the `_` before the signature algorithms appears
///   only when there are some.
public enum JA4 {
    public static func compute(_ ch: ClientHello, transport: JA4Transport) -> (ja4: String, ja4_r: String) {
        let p = parts(ch, transport: transport)
        let ja4 = p.a + "_" + hash12(p.ciphers) + "_" + hash12(p.extensionsAndSignatures)
        let ja4r = p.a + "_" + p.ciphers + "_" + p.extensionsAndSignatures
        return (ja4, ja4r)
    }

    /// The unhashed pieces: the `a` prefix, the sorted cipher list and the sorted
    /// extension list with the signature algorithms.
    public static func parts(_ ch: ClientHello, transport: JA4Transport)
        -> (a: String, ciphers: String, extensionsAndSignatures: String)
    {
        let ciphers = ch.cipherSuites.filter { !isGREASE($0) }
        let exts = ch.extensionTypes.filter { !isGREASE($0) }
        let sigs = ch.signatureAlgorithms.filter { !isGREASE($0) }

        var a = transport.marker
        a += versionCode(ch, transport: transport)
        a += ch.hasExtension(TLSExtensionType.serverName) ? "d" : "i"
        a += twoDigits(ciphers.count)
        a += twoDigits(exts.count)
        a += alpnCode(ch.alpn.first)

        let cipherList = ciphers.sorted().map(hex4).joined(separator: ",")
        let extList = exts.filter { $0 != TLSExtensionType.serverName && $0 != TLSExtensionType.alpn }
            .sorted().map(hex4).joined(separator: ",")
        let sigList = sigs.map(hex4).joined(separator: ",")
        let c = sigList.isEmpty ? extList : extList + "_" + sigList
        return (a, cipherList, c)
    }

    /// Two-character version code: `13` … `10`, `s3`, `s2`, `d1`–`d3`, `00` unknown.
    public static func versionCode(_ ch: ClientHello, transport: JA4Transport = .tcp) -> String {
        var v = ch.legacyVersion
        if ch.hasExtension(TLSExtensionType.supportedVersions) {
            let offered = ch.supportedVersions.filter { !isGREASE($0) }
            if let best = offered.max(by: { rank($0) < rank($1) }) {
                v = best
            }
        }
        switch v {
        case 0x0304: return "13"
        case 0x0303: return "12"
        case 0x0302: return "11"
        case 0x0301: return "10"
        case 0x0300: return "s3"
        case 0x0200, 0x0002: return "s2"
        case 0xfeff: return "d1"
        case 0xfefd: return "d2"
        case 0xfefc: return "d3"
        default: return "00"
        }
    }

    /// Order versions so that DTLS (whose numbers count down) compares the right way.
    private static func rank(_ v: UInt16) -> Int {
        if v >= 0xfe00 { return 0x10000 + (0xffff - Int(v)) }
        return Int(v)
    }

    /// The two ALPN characters of JA4_a.
    public static func alpnCode(_ value: [UInt8]?) -> String {
        guard let value, let first = value.first, let last = value.last else { return "00" }
        func isAlnum(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
        }
        if isAlnum(first) && isAlnum(last) {
            return String(decoding: [first, last], as: UTF8.self)
        }
        if first >= 0x80 || last >= 0x80 {
            return "99"
        }
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        return String(decoding: [digits[Int(first >> 4)], digits[Int(last & 0x0f)]], as: UTF8.self)
    }

    private static func twoDigits(_ n: Int) -> String {
        let c = min(n, 99)
        return c < 10 ? "0\(c)" : "\(c)"
    }

    /// First 12 hex characters of SHA-256, or `000000000000` for an empty input.
    static func hash12(_ s: String) -> String {
        if s.isEmpty { return "000000000000" }
        let digest = SHA256.hash(data: Array(s.utf8))
        return String(lowercaseHex(digest).prefix(12))
    }
}

func lowercaseHex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
