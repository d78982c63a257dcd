import Foundation
import NetTypes
import ReportRender
import XCTest

/// The byte-buffer JSON writer (issue 18 item 4): RFC 8259 escaping on bytes, numbers,
/// timestamps and addresses formatted in place, commas and nesting, reuse of the buffer.
final class JSONWriterTests: XCTestCase {
    func json(_ body: (inout JSONWriter) -> Void) -> String {
        var w = JSONWriter()
        body(&w)
        return w.output
    }

    func quoted(_ s: String) -> String { json { $0.string(s) } }

    func testEveryControlCharacterIsEscaped() throws {
        let short: [UInt8: String] = [0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r"]
        let hex = Array("0123456789abcdef")
        for b in UInt8(0)..<0x20 {
            let s = String(decoding: [UInt8(ascii: "a"), b, UInt8(ascii: "z")], as: UTF8.self)
            let expected = short[b] ?? "\\u00\(hex[Int(b >> 4)])\(hex[Int(b & 0xf)])"
            XCTAssertEqual(quoted(s), "\"a\(expected)z\"", "byte \(b)")
            // And a JSON parser reads the very string back.
            let back = try JSONSerialization.jsonObject(with: Data(("[" + quoted(s) + "]").utf8)) as? [String]
            XCTAssertEqual(back, [s], "byte \(b)")
        }
    }

    func testQuotesBackslashAndPrintableBytes() {
        XCTAssertEqual(quoted(#"say "hi" \o/"#), #""say \"hi\" \\o/""#)
        XCTAssertEqual(quoted(""), #""""#)
        XCTAssertEqual(quoted("\""), #""\"""#)
        XCTAssertEqual(quoted("\\"), #""\\""#)
        // Slash and DEL are not escaped (RFC 8259 does not require it; today's output does not).
        XCTAssertEqual(quoted("a/b\u{7f}"), "\"a/b\u{7f}\"")
        var all = ""
        for b in UInt8(0x20)...0x7e where b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
            all.unicodeScalars.append(Unicode.Scalar(b))
        }
        XCTAssertEqual(quoted(all), "\"" + all + "\"")
    }

    func testNonASCIIIsCopiedAsUTF8() {
        let s = "café.日本.😀"
        XCTAssertEqual(Array(quoted(s).utf8), [0x22] + Array(s.utf8) + [0x22])
    }

    func testInvalidUTF8IsWrittenAsTheStringHoldsIt() {
        // A String made from invalid UTF-8 holds U+FFFD per bad sequence; the writer copies those bytes.
        let bad: [UInt8] = [0x61, 0xff, 0x62, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x63]
        let s = String(decoding: bad, as: UTF8.self)
        XCTAssertEqual(Array(quoted(s).utf8), [0x22] + Array(s.utf8) + [0x22])
        XCTAssertTrue(quoted(s).contains("\u{FFFD}"))
        // Escaping still applies around them.
        let mixed = String(decoding: [0xff, 0x0a, 0x22] as [UInt8], as: UTF8.self)
        XCTAssertEqual(quoted(mixed), "\"\u{FFFD}\\n\\\"\"")
    }

    func testStringFromBytesMatchesStringFromString() {
        for s in ["plain", "tab\there", "\u{1}\u{1f}\"\\", "ünï", ""] {
            var w = JSONWriter()
            Array(s.utf8).withUnsafeBufferPointer { w.string(utf8: $0) }
            XCTAssertEqual(w.output, quoted(s))
        }
    }

    func testIntegersAtTheirLimits() {
        func int<T: BinaryInteger>(_ v: T) -> String { json { $0.int(v) } }
        XCTAssertEqual(int(0), "0")
        XCTAssertEqual(int(7), "7")
        XCTAssertEqual(int(10), "10")
        XCTAssertEqual(int(-1), "-1")
        XCTAssertEqual(int(-10), "-10")
        XCTAssertEqual(int(Int64.max), "9223372036854775807")
        XCTAssertEqual(int(Int64.min), "-9223372036854775808")
        XCTAssertEqual(int(UInt64.max), "18446744073709551615")
        XCTAssertEqual(int(UInt8.max), "255")
        XCTAssertEqual(int(Int8.min), "-128")
        XCTAssertEqual(int(UInt16.max), "65535")
        XCTAssertEqual(int(UInt32.max), "4294967295")
        XCTAssertEqual(int(Int32.min), "-2147483648")
        var g = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let v = Int64.random(in: .min ... .max, using: &g) >> Int64.random(in: 0...63, using: &g)
            XCTAssertEqual(int(v), String(v))
            let u = UInt64.random(in: 0 ... .max, using: &g) >> UInt64.random(in: 0...63, using: &g)
            XCTAssertEqual(int(u), String(u))
        }
    }

    func testTimestampsAsDecodeLinesPrintThem() {
        let cases: [Timestamp] = [
            .zero, Timestamp(seconds: 1_700_000_000, nanoseconds: 123),
            Timestamp(seconds: 1_700_000_000, nanoseconds: 999_999_999),
            Timestamp(seconds: 1, nanoseconds: 100_000_000), Timestamp(seconds: -5, nanoseconds: 7),
            Timestamp(seconds: Int64.max, nanoseconds: 0), Timestamp(seconds: Int64.min, nanoseconds: 1),
            // Out of range nanoseconds from a damaged capture print all their digits, as before.
            Timestamp(seconds: 3, nanoseconds: UInt32.max),
        ]
        for t in cases {
            XCTAssertEqual(json { $0.timestamp(t) }, "\"\(t.description)\"")
        }
        XCTAssertEqual(json { $0.timestamp(Timestamp(seconds: 12, nanoseconds: 5)) }, #""12.000000005""#)
    }

    /// 3000 random IPv6 addresses (groups often zero, so every placement of "::" is tried), as
    /// many IPv4-mapped ones and random IPv4 addresses.
    private func randomAddresses() -> [IPAddress] {
        var g = SystemRandomNumberGenerator()
        var out: [IPAddress] = []
        for _ in 0..<3000 {
            var hi: UInt64 = 0, lo: UInt64 = 0
            for _ in 0..<4 { hi = hi << 16 | (Bool.random(using: &g) ? 0 : UInt64.random(in: 0...0xffff, using: &g)) }
            for _ in 0..<4 { lo = lo << 16 | (Bool.random(using: &g) ? 0 : UInt64.random(in: 0...0xffff, using: &g)) }
            out.append(IPAddress(v6Hi: hi, lo: lo))
            out.append(IPAddress(v6Hi: 0, lo: 0xffff_0000_0000 | (lo & 0xffff_ffff)))
            out.append(IPAddress(v4: UInt32.random(in: 0 ... .max, using: &g)))
        }
        return out
    }

    /// Addresses as strings: the one address formatter (`IPAddress.appendText`, behind
    /// `description` and the writer) against the C library's `inet_ntop` (RFC 5952 §4 text,
    /// IPv4-mapped as ::ffff:a.b.c.d) on fixed and random addresses, many groups zero. Skipped: the deprecated IPv4-compatible
    /// form ::a.b.c.d that glibc still prints for ::/96 (RFC 5952 §5 does not recommend it).
    func testAddressesMatchInetNtop() {
        func ntop(_ a: IPAddress) -> String {
            var buf = [CChar](repeating: 0, count: 64)
            let b = a.bytes
            let ok = b.withUnsafeBytes { inet_ntop(a.isV6 ? AF_INET6 : AF_INET, $0.baseAddress, &buf, 64) } != nil
            return ok ? String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        }
        var cases: [IPAddress] = [
            IPAddress(v4: 0), IPAddress(v4: 0xffff_ffff), IPAddress(v4: 0xc000_0201), IPAddress(v4: 0x0a00_0001),
            IPAddress(v4: 0x6400_0a09),
            IPAddress(v6Hi: 0, lo: 0), IPAddress(v6Hi: 0, lo: 1), IPAddress(v6Hi: 0, lo: 0xffff_c000_0201),
            IPAddress(v6Hi: 0, lo: 0xfffe_c000_0201), IPAddress(v6Hi: 0x2001_0db8_0000_0000, lo: 1),
            IPAddress(v6Hi: 0x2001_0db8_0000_0001, lo: 0x0000_0000_0001_0000),
            IPAddress(v6Hi: 0x2001_0000_0000_0001, lo: 0x0000_0000_0000_0001),
            IPAddress(v6Hi: 0xfe80_0000_0000_0000, lo: 0x0211_22ff_fe33_4455),
            IPAddress(v6Hi: 0xffff_ffff_ffff_ffff, lo: 0xffff_ffff_ffff_ffff),
            IPAddress(v6Hi: 0x0001_0000_0001_0000, lo: 0x0001_0000_0001_0000),
            IPAddress(v6Hi: 0, lo: 0x0001_0000_0000_0000), IPAddress(v6Hi: 0, lo: 0xffff_0000_0000),
            IPAddress(v6Hi: 0, lo: 0x0001_ffff_c000_0201), IPAddress(v6Hi: 0x2001_0db8_0000_0000, lo: 0x0000_0001_0000_0001),
            IPAddress(v6Hi: 0x0000_0000_0001_0000, lo: 0),
        ]
        cases += randomAddresses()
        var checked = 0
        for a in cases {
            if a.isV6, a.hi == 0, a.lo >> 32 == 0, a.lo >> 16 != 0 { continue }  // ::a.b.c.d in glibc
            let want = ntop(a)
            XCTAssertEqual(a.description, want)
            XCTAssertEqual(json { $0.address(a) }, "\"\(want)\"")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 8000)
    }

    func testCommasNestingAndKeyOrder() {
        let out = json { w in
            w.object { w in
                w.field("a", 1)
                w.key("b"); w.array { w in w.int(1); w.string("x"); w.null(); w.object { _ in }; w.array { _ in } }
                w.key("c"); w.object { w in w.field("d", true); w.field("e", strings: ["p", "q"]) }
                w.field("f", ints: [UInt16]())
                w.field("g", 1.5)
                w.field("h", Double.nan)
                w.key("i"); w.raw("{\"j\":2}")
                w.field("k", false)
            }
        }
        XCTAssertEqual(out, #"{"a":1,"b":[1,"x",null,{},[]],"c":{"d":true,"e":["p","q"]},"f":[],"g":1.5,"h":null,"i":{"j":2},"k":false}"#)
        XCTAssertEqual(json { w in w.beginObject(); w.field("a", 1); w.key("b"); w.beginArray(); w.int(2); w.int(3); w.endArray(); w.endObject() },
                       #"{"a":1,"b":[2,3]}"#)
        // Keys are escaped like strings.
        XCTAssertEqual(json { w in w.object { w in w.field("q\"\n", 1) } }, #"{"q\"\n":1}"#)
    }

    func testLinesAndReuse() {
        var w = JSONWriter(reserving: 64)
        w.object { w in w.field("n", 1) }
        w.endLine()
        w.object { w in w.field("n", 2) }
        w.endLine()
        XCTAssertEqual(w.output, "{\"n\":1}\n{\"n\":2}\n")
        let capacity = w.bytes.capacity
        w.removeAll()
        XCTAssertEqual(w.output, "")
        XCTAssertEqual(w.bytes.capacity, capacity)
        w.object { w in w.field("n", 3) }
        w.endLine()
        XCTAssertEqual(w.output, "{\"n\":3}\n")
    }
}
