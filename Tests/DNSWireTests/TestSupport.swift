import DNSWire
import XCTest

/// Bytes from a hex string (whitespace ignored).
func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var hi: UInt8? = nil
    for c in s.utf8 {
        let v: UInt8
        switch c {
        case 0x30...0x39: v = c - 0x30
        case 0x61...0x66: v = c - 0x61 + 10
        case 0x41...0x46: v = c - 0x41 + 10
        default: continue
        }
        if let h = hi { out.append(h << 4 | v); hi = nil } else { hi = v }
    }
    return out
}

func toHex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

/// Parse, failing the test when even the header is missing.
func parseOK(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> DNSMessage {
    switch DNSMessage.parse(bytes) {
    case .success(let m): return m
    case .failure(let e):
        XCTFail("parse failed: \(e)", file: file, line: line)
        return DNSMessage(id: 0, flags: 0)
    }
}

func codes(_ m: DNSMessage) -> [String] { m.anomalies.map(\.code) }

/// Well-formedness of the question and answer sections as parse sees it (what summarize reports).
func parseWellFormedQA(_ m: DNSMessage) -> Bool {
    !m.anomalies.contains { $0.isMalformation && ($0.section == .question || $0.section == .answer || $0.section == .header) }
}

/// A one-answer response carrying raw RDATA for `type` (for RDATA vectors taken from captures).
func messageWithRData(type: UInt16, rdata: [UInt8], owner: String = "example.com.") throws -> [UInt8] {
    var b = DNSMessageBuilder(id: 1, flags: DNSMessageBuilder.responseFlags())
    try b.addQuestion(name: owner, type: type)
    try b.addAnswer(name: owner, type: type, ttl: 300, rdata: .unknown(rdata))
    return try b.build()
}

func firstAnswer(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> DNSResourceRecord? {
    let m = parseOK(bytes, file: file, line: line)
    XCTAssertEqual(m.answers.count, 1, file: file, line: line)
    return m.answers.first
}

/// A 64 KB message built to be as expensive as possible: a chain of 127 pointer hops, then
/// thousands of questions that each walk the whole chain. Returns the message and its question count.
func worstCaseChainMessage() -> (wire: [UInt8], questions: Int) {
    var body = hex("01610000010001")
    var prev = 12  // offset of the previous question's name
    for _ in 0..<DNSName.maxPointerHops - 1 {
        let here = 12 + body.count
        body += [0xC0 | UInt8(truncatingIfNeeded: prev >> 8), UInt8(truncatingIfNeeded: prev)] + hex("00010001")
        prev = here
    }
    // `prev` now names the deepest pointer; fill the rest of 64 KB with questions pointing at it.
    let deepest = prev
    while 12 + body.count + 6 <= 65535 {
        body += [0xC0 | UInt8(truncatingIfNeeded: deepest >> 8), UInt8(truncatingIfNeeded: deepest)] + hex("00010001")
    }
    let qd = 1 + (body.count - 7) / 6
    return ([0, 0, 0x81, 0x80, UInt8(qd >> 8), UInt8(qd & 0xff), 0, 0, 0, 0, 0, 0] + body, qd)
}
