/// A small streaming JSON writer that keeps keys in the order they are written.
///
/// Output formats need a fixed key order (the contract shows it) and speed on millions of
/// decode lines; Foundation's encoder gives neither. Usage:
/// ```
/// var w = JSONWriter()
/// w.object { w in
///     w.key("frame"); w.int(12)
///     w.key("dns"); w.object { w in ... }
/// }
/// let line = w.output
/// ```
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Whether a value has been written at the current nesting level (for commas).
    private var needsComma: [Bool] = [false]

    public init(reserving capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    public var output: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func separator() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    /// Write an object key; the next call must write its value.
    public mutating func key(_ k: String) {
        separator()
        appendQuoted(k)
        bytes.append(UInt8(ascii: ":"))
        // The value that follows must not add another comma.
        needsComma[needsComma.count - 1] = false
        pendingValueAfterKey = true
    }

    private var pendingValueAfterKey = false

    private mutating func beginValue() {
        if pendingValueAfterKey {
            pendingValueAfterKey = false
            needsComma[needsComma.count - 1] = true
        } else {
            separator()
        }
    }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        beginValue()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
        body(&self)
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        beginValue()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
        body(&self)
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func string(_ s: String) {
        beginValue()
        appendQuoted(s)
    }

    public mutating func int<T: BinaryInteger>(_ v: T) {
        beginValue()
        bytes.append(contentsOf: String(v).utf8)
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

    // Convenience key/value pairs.
    public mutating func field(_ k: String, _ v: String) { key(k); string(v) }
    public mutating func field<T: BinaryInteger>(_ k: String, _ v: T) { key(k); int(v) }
    public mutating func field(_ k: String, _ v: Bool) { key(k); bool(v) }
    public mutating func field(_ k: String, _ v: Double) { key(k); double(v) }
    public mutating func field(_ k: String, strings: [String]) {
        key(k)
        array { w in for s in strings { w.string(s) } }
    }
    public mutating func field<T: BinaryInteger>(_ k: String, ints: [T]) {
        key(k)
        array { w in for s in ints { w.int(s) } }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
            case 0x0a: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case 0x0d: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(Self.hex[Int(b >> 4)])
                bytes.append(Self.hex[Int(b & 0x0f)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
