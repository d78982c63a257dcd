import NetTypes

/// A small streaming JSON writer that keeps keys in the order they are written, straight into a
/// reusable byte buffer.
///
/// Output formats need a fixed key order (the contract shows it) and speed on millions of
/// decode lines; Foundation's encoder gives neither. Strings are escaped on their UTF-8 bytes
/// (RFC 8259 §7: `"` and `\` escaped, `\n` `\r` `\t` short, the other controls below 0x20 as
/// `\u00XX` lowercase; everything else, 0x7f and non-ASCII included, copied as is), integers,
/// timestamps and addresses are formatted without allocating. A value type with no shared
/// state: each thread can have its own. Usage:
/// ```
/// var w = JSONWriter()
/// w.object { w in
///     w.key("frame"); w.int(12)
///     w.key("dns"); w.object { w in ... }
/// }
/// let line = w.output
/// ```
/// For JSON Lines, write one value, then `endLine()`; hand `bytes` to the output when the
/// buffer is large and `removeAll()` to reuse it.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Whether the next value or key at the current nesting level needs a comma first. After
    /// `{`, `[` and a key's `:` it is false; after any complete value it is true.
    private var needsComma = false

    public init(reserving capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    public var output: String { String(decoding: bytes, as: UTF8.self) }

    /// Ends a JSON Lines line: a newline, and the next value starts a new line (no comma).
    @inlinable
    public mutating func endLine() {
        appendByte(0x0a)
        resetSeparator()
    }

    /// Empties the buffer and keeps its capacity, for the next batch of lines.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        needsComma = false
    }

    @usableFromInline
    mutating func resetSeparator() { needsComma = false }

    @usableFromInline
    mutating func appendByte(_ b: UInt8) { bytes.append(b) }

    @inline(__always)
    private mutating func beginValue() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    /// Write an object key; the next call must write its value.
    public mutating func key(_ k: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        appendQuoted(k)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        beginObject()
        body(&self)
        endObject()
    }

    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        beginArray()
        body(&self)
        endArray()
    }

    /// `{`; pair with `endObject()` (the closure form `object { }` does both).
    public mutating func beginObject() {
        beginValue()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        beginValue()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    public mutating func string(_ s: String) {
        beginValue()
        appendQuoted(s)
    }

    /// A string given as UTF-8 bytes, escaped like `string(_:)`. The bytes are copied as they
    /// are: pass valid UTF-8 (what `string(_:)` of a `String` always writes).
    public mutating func string(utf8 s: UnsafeBufferPointer<UInt8>) {
        beginValue()
        bytes.append(UInt8(ascii: "\""))
        appendEscaped(s)
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func int<T: BinaryInteger>(_ v: T) {
        beginValue()
        if let u = UInt64(exactly: v) {
            appendDecimal(u)
        } else if let i = Int64(exactly: v) {
            bytes.append(UInt8(ascii: "-"))
            appendDecimal(i.magnitude)
        } else {
            bytes.append(contentsOf: String(v).utf8)
        }
    }

    public mutating func double(_ v: Double) {
        beginValue()
        if v.isFinite {
            bytes.append(contentsOf: String(v).utf8)
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
    }

    public mutating func bool(_ v: Bool) {
        beginValue()
        bytes.append(contentsOf: (v ? "true" : "false").utf8)
    }

    public mutating func null() {
        beginValue()
        bytes.append(contentsOf: "null".utf8)
    }

    /// Splice an already-serialised JSON value.
    public mutating func raw(_ json: String) {
        beginValue()
        bytes.append(contentsOf: json.utf8)
    }

    /// A capture time as a string of seconds, a dot and nine digits of nanoseconds
    /// ("1700000000.000123456"), the way `Timestamp.description` writes it.
    public mutating func timestamp(_ t: Timestamp) {
        beginValue()
        bytes.append(UInt8(ascii: "\""))
        if t.seconds < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDecimal(t.seconds.magnitude)
        bytes.append(UInt8(ascii: "."))
        appendDecimal(UInt64(t.nanoseconds), minDigits: 9)
        bytes.append(UInt8(ascii: "\""))
    }

    /// An address as a string: dotted quad, or RFC 5952 IPv6 (`IPAddress.appendText`, the text
    /// of `IPAddress.description`).
    public mutating func address(_ a: IPAddress) {
        beginValue()
        bytes.append(UInt8(ascii: "\""))
        a.appendText(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    // Convenience key/value pairs.
    public mutating func field(_ k: String, _ v: String) { key(k); string(v) }
    public mutating func field<T: BinaryInteger>(_ k: String, _ v: T) { key(k); int(v) }
    public mutating func field(_ k: String, _ v: Bool) { key(k); bool(v) }
    public mutating func field(_ k: String, _ v: Double) { key(k); double(v) }
    public mutating func field(_ k: String, _ v: Timestamp) { key(k); timestamp(v) }
    public mutating func field(_ k: String, _ v: IPAddress) { key(k); address(v) }
    public mutating func field(_ k: String, strings: [String]) {
        key(k)
        beginArray()
        for s in strings { string(s) }
        endArray()
    }
    public mutating func field<T: BinaryInteger>(_ k: String, ints: [T]) {
        key(k)
        beginArray()
        for s in ints { int(s) }
        endArray()
    }

    // MARK: - bytes

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { appendEscaped($0) }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Copies runs that need no escape in one go; escapes `"`, `\` and bytes below 0x20.
    private mutating func appendEscaped(_ src: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        var i = 0
        let n = src.count
        while i < n {
            let b = src[i]
            if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: src[runStart..<i])) }
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\")); bytes.append(b)
            case 0x0a: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case 0x0d: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            default:
                bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "u"))
                bytes.append(UInt8(ascii: "0")); bytes.append(UInt8(ascii: "0"))
                bytes.append(Self.hex[Int(b >> 4)])
                bytes.append(Self.hex[Int(b & 0x0f)])
            }
            i += 1
            runStart = i
        }
        if runStart < n { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: src[runStart..<n])) }
    }

    /// Decimal digits of `v`, zero-padded on the left to `minDigits`, without allocating.
    private mutating func appendDecimal(_ v: UInt64, minDigits: Int = 1) {
        if v < 10 && minDigits <= 1 {
            bytes.append(UInt8(truncatingIfNeeded: v) &+ 48)
            return
        }
        // UInt64 has at most 20 digits; minDigits is at most 9 here.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { buf in
            var i = buf.count
            var x = v
            repeat {
                i -= 1
                buf[i] = UInt8(truncatingIfNeeded: x % 10) &+ 48
                x /= 10
            } while x != 0
            while buf.count - i < minDigits && i > 0 {
                i -= 1
                buf[i] = 48
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[i...]))
        }
    }
}
