import Foundation
import TLSWire

/// Bytes from a hex string (whitespace ignored). Test vectors only: traps on bad hex.
func hexBytes(_ s: String) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(s.utf8.count / 2)
    var hi: UInt8? = nil
    for ch in s.utf8 {
        let v: UInt8
        switch ch {
        case 0x30...0x39: v = ch - 0x30
        case 0x61...0x66: v = ch - 0x61 + 10
        case 0x41...0x46: v = ch - 0x41 + 10
        default: continue
        }
        if let h = hi {
            out.append(h << 4 | v)
            hi = nil
        } else {
            hi = v
        }
    }
    return out
}

/// Parse the ClientHello inside a TLS record stream (one or more records).
func clientHelloFromRecords(_ bytes: [UInt8]) -> ClientHello? {
    var r = TLSHandshakeReassembler()
    for ev in r.feed(bytes) {
        if case .handshake(let type, let body) = ev, type == TLSHandshakeType.clientHello {
            return ClientHello.parse(body)
        }
    }
    return nil
}

/// Run a sequence of client UDP payloads through the QUIC Initial path; returns the
/// first ClientHello body.
func clientHelloFromQUIC(_ datagrams: [[UInt8]]) -> (body: [UInt8], packets: Int)? {
    var dec = QUICInitialDecryptor(side: .client)
    var asm = QUICCryptoAssembler()
    var originalDCID: [UInt8]? = nil
    var packets = 0
    for d in datagrams {
        guard d.withUnsafeBytes({ QUICInitialDecryptor.looksLikeInitial($0) }) else { continue }
        let res = dec.decrypt(datagram: d, initialDCID: originalDCID)
        for p in res.initials {
            if originalDCID == nil { originalDCID = p.dcid }
            packets += 1
            for f in p.cryptoFrames {
                if let body = asm.add(f) { return (body, packets) }
            }
        }
    }
    return nil
}

/// Deterministic xorshift generator for the mutation loops.
struct XorShift {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E3779B97F4A7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
}
