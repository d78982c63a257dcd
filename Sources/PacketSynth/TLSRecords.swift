// TLS records for synthetic flows: a Chrome-like ClientHello (GREASE, the usual extension set,
// padded to 512 bytes as BoringSSL does) with the SNI swapped in, a TLS 1.3 ServerHello,
// ChangeCipherSpec, opaque application data and alerts. Only the shapes are real: no keys.

public enum TLSRecords {
    public static let contentChangeCipherSpec: UInt8 = 20
    public static let contentAlert: UInt8 = 21
    public static let contentHandshake: UInt8 = 22
    public static let contentApplicationData: UInt8 = 23

    /// The 16 GREASE values (RFC 8701): 0x0a0a, 0x1a1a, … 0xfafa.
    public static func grease(_ index: Int) -> UInt16 {
        let n = UInt16(truncatingIfNeeded: index & 0x0f)
        return (n << 12) | 0x0a00 | (n << 4) | 0x0a
    }

    /// A ClientHello record (record header included) that looks like Chrome's: TLS 1.3 + 1.2
    /// ciphers, GREASE in ciphers, groups, versions and extensions, x25519 key share, ALPN,
    /// and padding (extension 21) up to a 512-byte handshake message when it is shorter.
    /// `serverName` nil leaves out the SNI extension.
    public static func clientHello(serverName: String?, alpn: [String] = ["h2", "http/1.1"],
                                   rng: inout SplitMix64) -> [UInt8] {
        let g1 = grease(rng.int(below: 16)), g2 = grease(rng.int(below: 16))
        let g3 = grease(rng.int(below: 16)), g4 = grease(rng.int(below: 16)), g5 = grease(rng.int(below: 16))
        var body: [UInt8] = []
        body.reserveCapacity(600)
        body.appendBE16(0x0303)
        body += rng.bytes(32)                   // random
        body.append(32)
        body += rng.bytes(32)                   // legacy session id
        let ciphers: [UInt16] = [g1, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                                 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035]
        body.appendBE16(UInt16(ciphers.count * 2))
        for c in ciphers { body.appendBE16(c) }
        body.append(1)
        body.append(0)                          // null compression

        var ext: [UInt8] = []
        ext.reserveCapacity(512)
        func add(_ type: UInt16, _ data: [UInt8]) {
            ext.appendBE16(type)
            ext.appendBE16(UInt16(truncatingIfNeeded: data.count))
            ext += data
        }
        add(g2, [])
        if let serverName {
            let name = Array(serverName.utf8)
            var sni: [UInt8] = []
            sni.appendBE16(UInt16(truncatingIfNeeded: name.count + 3))
            sni.append(0)
            sni.appendBE16(UInt16(truncatingIfNeeded: name.count))
            sni += name
            add(0x0000, sni)
        }
        add(0x0017, [])                         // extended_master_secret
        add(0xff01, [0])                        // renegotiation_info
        var groups: [UInt8] = []
        groups.appendBE16(8)
        for g in [g3, 0x001d, 0x0017, 0x0018] { groups.appendBE16(g) }
        add(0x000a, groups)                     // supported_groups
        add(0x000b, [1, 0])                     // ec_point_formats
        add(0x0023, [])                         // session_ticket
        if !alpn.isEmpty {
            var list: [UInt8] = []
            for p in alpn {
                let b = Array(p.utf8.prefix(255))
                list.append(UInt8(b.count))
                list += b
            }
            var a: [UInt8] = []
            a.appendBE16(UInt16(truncatingIfNeeded: list.count))
            add(0x0010, a + list)               // ALPN
        }
        add(0x0005, [1, 0, 0, 0, 0])            // status_request
        var sigs: [UInt8] = []
        let sigAlgs: [UInt16] = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
        sigs.appendBE16(UInt16(sigAlgs.count * 2))
        for s in sigAlgs { sigs.appendBE16(s) }
        add(0x000d, sigs)                       // signature_algorithms
        add(0x0012, [])                         // signed_certificate_timestamp
        var ks: [UInt8] = []
        ks.appendBE16(4 + 1 + 4 + 32)
        ks.appendBE16(g3)
        ks.appendBE16(1)
        ks.append(0)
        ks.appendBE16(0x001d)
        ks.appendBE16(32)
        ks += rng.bytes(32)
        add(0x0033, ks)                         // key_share
        add(0x002d, [1, 1])                     // psk_key_exchange_modes
        var versions: [UInt8] = [6]
        for v in [g4, 0x0304, 0x0303] { versions.appendBE16(v) }
        add(0x002b, versions)                   // supported_versions
        add(0x001b, [2, 0, 2])                  // compress_certificate: brotli
        add(0x4469, [0, 3, 2] + Array("h2".utf8)) // application_settings
        add(g5, [0])
        // Handshake header (4) + body + extensions length (2) + extensions; pad to 512.
        let unpadded = 4 + body.count + 2 + ext.count
        if unpadded < 512 {
            let padLength = max(1, 512 - unpadded - 4)
            add(0x0015, [UInt8](repeating: 0, count: padLength))
        }
        body.appendBE16(UInt16(truncatingIfNeeded: ext.count))
        body += ext
        return record(contentHandshake, version: 0x0301, handshake(1, body))
    }

    /// A TLS 1.3 ServerHello record (supported_versions 1.3, x25519 key share) echoing `sessionID`.
    public static func serverHello(sessionID: [UInt8], cipherSuite: UInt16 = 0x1301, rng: inout SplitMix64) -> [UInt8] {
        var body: [UInt8] = []
        body.appendBE16(0x0303)
        body += rng.bytes(32)
        body.append(UInt8(truncatingIfNeeded: sessionID.count))
        body += sessionID
        body.appendBE16(cipherSuite)
        body.append(0)
        var ext: [UInt8] = []
        ext.appendBE16(0x002b); ext.appendBE16(2); ext.appendBE16(0x0304)
        ext.appendBE16(0x0033); ext.appendBE16(36); ext.appendBE16(0x001d); ext.appendBE16(32)
        ext += rng.bytes(32)
        body.appendBE16(UInt16(ext.count))
        body += ext
        return record(contentHandshake, version: 0x0303, handshake(2, body))
    }

    /// The legacy session id of a ClientHello record built by `clientHello` (empty if unreadable).
    public static func sessionID(ofClientHello record: [UInt8]) -> [UInt8] {
        // record header 5 + handshake header 4 + version 2 + random 32 = 43
        guard record.count > 43 else { return [] }
        let n = Int(record[43])
        guard record.count >= 44 + n else { return [] }
        return Array(record[44..<(44 + n)])
    }

    public static let changeCipherSpec: [UInt8] = [contentChangeCipherSpec, 0x03, 0x03, 0x00, 0x01, 0x01]

    /// One application_data record with `length` opaque (random) bytes.
    public static func applicationData(length: Int, rng: inout SplitMix64) -> [UInt8] {
        record(contentApplicationData, version: 0x0303, rng.bytes(min(max(0, length), 16_640)))
    }

    /// A plaintext alert record (level 2 = fatal, description e.g. 40 handshake_failure).
    public static func alert(level: UInt8, description: UInt8) -> [UInt8] {
        record(contentAlert, version: 0x0303, [level, description])
    }

    public static func record(_ contentType: UInt8, version: UInt16, _ fragment: [UInt8]) -> [UInt8] {
        var r: [UInt8] = [contentType]
        r.reserveCapacity(5 + fragment.count)
        r.appendBE16(version)
        r.appendBE16(UInt16(truncatingIfNeeded: fragment.count))
        r += fragment
        return r
    }

    static func handshake(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
        var h: [UInt8] = [type, UInt8(truncatingIfNeeded: body.count >> 16),
                          UInt8(truncatingIfNeeded: body.count >> 8), UInt8(truncatingIfNeeded: body.count)]
        h += body
        return h
    }
}
