import TLSWire

/// The value of the `"tls"` key of a `dnsaudit decode` line for a ClientHello
/// (CONTRACT.md, "decode lines"). Lists are numeric and in wire order, GREASE included;
/// `version` is the highest version offered, `legacy_version` the hello's own field.
public func writeTLSClientHelloObject(_ ch: ClientHello, transport: JA4Transport, into w: inout JSONWriter) {
    let ja3 = JA3.compute(ch)
    let ja4 = JA4.compute(ch, transport: transport)
    w.object { w in
        w.field("handshake", "client_hello")
        if let sni = ch.sni {
            w.field("sni", sni)
        }
        w.field("alpn", strings: ch.alpn.map(tlsALPNString))
        w.field("version", ch.versionString)
        w.field("legacy_version", ch.legacyVersion)
        w.field("ciphers", ints: ch.cipherSuites)
        w.field("extensions", ints: ch.extensionTypes)
        w.field("supported_groups", ints: ch.supportedGroups)
        w.field("signature_algorithms", ints: ch.signatureAlgorithms)
        w.field("ech", ch.hasECH)
        w.field("esni", ch.hasESNI)
        w.field("ja3", ja3.hash)
        w.field("ja3_string", ja3.string)
        w.field("ja4", ja4.ja4)
        w.field("ja4_r", ja4.ja4_r)
    }
}

/// The value of the `"tls"` key for a ServerHello (or HelloRetryRequest).
public func writeTLSServerHelloObject(_ sh: ServerHello, into w: inout JSONWriter) {
    w.object { w in
        w.field("handshake", "server_hello")
        w.field("version", sh.versionString)
        w.field("legacy_version", sh.legacyVersion)
        w.field("cipher", sh.cipherSuite)
        w.field("hello_retry_request", sh.isHelloRetryRequest)
        w.field("extensions", ints: sh.extensions.map(\.type))
        if let alpn = sh.selectedALPN {
            w.field("alpn", tlsALPNString(alpn))
        }
    }
}

/// An ALPN protocol name as a JSON string: itself when it is printable ASCII, else `0x` and
/// lowercase hex.
public func tlsALPNString(_ value: [UInt8]) -> String {
    if value.allSatisfy({ $0 >= 0x20 && $0 <= 0x7e }) {
        return String(decoding: value, as: UTF8.self)
    }
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = Array("0x".utf8)
    for b in value {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
