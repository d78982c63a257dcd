// Domain names: the one name walker (compression, limits) that both the materialized parse and
// the zero-allocation summary use, presentation-format output, and presentation → wire parsing.

/// Limits and helpers for domain names.
public enum DNSName {
    /// The most compression pointers followed while expanding one name. A name of at most 255
    /// octets has at most 127 labels, so an honest chain never needs more; beyond this the chain
    /// is reported as `DNS_compression_loop`. tshark decodes long chains (zeek's
    /// max-compression-depth trace has 6 hops, which Zeek's default limit flags); we follow them too.
    public static let maxPointerHops = 127
    /// RFC 1035 §2.3.4: a name is at most 255 octets in wire form, root label included.
    public static let maxWireLength = 255

    /// Placeholder texts used instead of a name that cannot be expanded (the record's extent is
    /// still known, so parsing goes on). The first two are tshark's own texts; none of them can be
    /// produced by a real name, since a real name's spaces are escaped as `\032`.
    public static let tooLongPlaceholder = "<Name too long>"
    public static let loopPlaceholder = "<Name contains a pointer that loops>"
    public static let badPointerPlaceholder = "<Bad compression pointer>"
    public static let badLabelPlaceholder = "<Unknown extended label>"
}

/// Why a name could not be read.
@usableFromInline
enum NameError: UInt8, Sendable {
    /// The name runs past the end of its region before a terminator or pointer: the record
    /// cannot be delimited.
    case structural
    /// More than 255 octets once expanded.
    case tooLong
    /// A 0x40 or 0x80 label type.
    case labelType
    /// Too many pointer hops.
    case loop
    /// A pointer outside the message, or labels behind a pointer that run off the end.
    case badPointer
}

@usableFromInline
struct NameScan {
    /// Offset just past the name at its original position; -1 when it cannot be delimited
    /// (then `error` says why: `.structural` or `.labelType`).
    @usableFromInline var end: Int
    @usableFromInline var error: NameError?
    /// A pointer to an offset at or after the pointer itself was followed.
    @usableFromInline var forward: Bool
    /// Compression pointers followed (the one that failed the hop limit included).
    @usableFromInline var hops: Int

    @inlinable @inline(__always) init(end: Int, error: NameError?, forward: Bool, hops: Int) {
        self.end = end
        self.error = error
        self.forward = forward
        self.hops = hops
    }
}

/// Walk the name at `start`. Its uncompressed part must lie before `limit` (the end of the
/// RDATA for names inside RDATA, the end of the message otherwise); pointers may reach anywhere
/// in `msg`. `onLabel(offset, length)` is called for each label of the expanded name while no
/// error has been found; the label's bytes are `msg[offset ..< offset + length]`, all in
/// bounds. Never allocates, never traps.
///
/// Reads through `msg.baseAddress` (every read is preceded by a check against `bound`, which
/// never exceeds `msg.count`), so the per-byte work has no bounds or nil checks of its own.
@inlinable @inline(__always)
func scanName(
    _ msg: UnsafeRawBufferPointer, start: Int, limit: Int, onLabel: (Int, Int) -> Void
) -> NameScan {
    let count = msg.count
    var pos = start
    var bound = min(limit, count)
    var end = -1
    var hops = 0
    var wire = 1  // the root label
    var error: NameError? = nil
    var forward = false
    // An empty buffer (possibly with a nil base) cannot hold a name: the first check fails.
    guard let base = msg.baseAddress, count > 0 else {
        return NameScan(end: -1, error: .structural, forward: false, hops: 0)
    }
    while true {
        guard pos >= 0, pos < bound else {
            if end < 0 { return NameScan(end: -1, error: .structural, forward: forward, hops: hops) }
            return NameScan(end: end, error: error ?? .badPointer, forward: forward, hops: hops)
        }
        let b = base.load(fromByteOffset: pos, as: UInt8.self)
        if b == 0 {
            if end < 0 { end = pos + 1 }
            break
        }
        switch b & 0xC0 {
        case 0x00:
            let len = Int(b)
            guard bound - pos - 1 >= len else {
                if end < 0 { return NameScan(end: -1, error: .structural, forward: forward, hops: hops) }
                return NameScan(end: end, error: error ?? .badPointer, forward: forward, hops: hops)
            }
            if error == nil {
                wire += 1 + len
                if wire > DNSName.maxWireLength {
                    error = .tooLong
                    // Behind a pointer the extent is known: stop. Inline: keep walking to find it.
                    if end >= 0 { return NameScan(end: end, error: error, forward: forward, hops: hops) }
                } else {
                    onLabel(pos + 1, len)
                }
            }
            pos += 1 + len
        case 0xC0:
            guard bound - pos >= 2 else {
                if end < 0 { return NameScan(end: -1, error: .structural, forward: forward, hops: hops) }
                return NameScan(end: end, error: error ?? .badPointer, forward: forward, hops: hops)
            }
            let target = Int(b & 0x3F) << 8 | Int(base.load(fromByteOffset: pos + 1, as: UInt8.self))
            if end < 0 { end = pos + 2 }
            if error != nil { return NameScan(end: end, error: error, forward: forward, hops: hops) }
            if target >= pos { forward = true }
            hops += 1
            if hops > DNSName.maxPointerHops { return NameScan(end: end, error: .loop, forward: forward, hops: hops) }
            guard target < count else { return NameScan(end: end, error: .badPointer, forward: forward, hops: hops) }
            pos = target
            bound = count
        default:
            // 0x40 (RFC 6891 extended label, deprecated) and 0x80 (reserved).
            if end < 0 { return NameScan(end: -1, error: .labelType, forward: forward, hops: hops) }
            return NameScan(end: end, error: error ?? .labelType, forward: forward, hops: hops)
        }
    }
    return NameScan(end: end, error: error, forward: forward, hops: hops)
}

/// Append one label in presentation format: `.` and `\` escaped with a backslash, bytes
/// outside 0x21...0x7E as `\DDD` (RFC 1035 §5.1).
func appendEscapedLabel(_ msg: UnsafeRawBufferPointer, _ start: Int, _ len: Int, to out: inout [UInt8]) {
    var i = start
    let end = start + len
    while i < end {
        let c = msg[i]
        if c == UInt8(ascii: ".") || c == UInt8(ascii: "\\") {
            out.append(UInt8(ascii: "\\"))
            out.append(c)
        } else if c < 0x21 || c > 0x7E {
            appendDDD(c, to: &out)
        } else {
            out.append(c)
        }
        i += 1
    }
}

func appendDDD(_ c: UInt8, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\\"))
    out.append(0x30 + c / 100)
    out.append(0x30 + (c / 10) % 10)
    out.append(0x30 + c % 10)
}

/// A name read for presentation.
struct ReadName {
    var text: String
    var end: Int
    var error: NameError?
    var forward: Bool
}

/// Read and present the name at `start` (see `scanName`). On an expansion error the text is one
/// of the `DNSName` placeholders; when `end < 0` the name could not be delimited at all.
func readName(_ msg: UnsafeRawBufferPointer, at start: Int, limit: Int) -> ReadName {
    var out = [UInt8]()
    out.reserveCapacity(64)
    let scan = scanName(msg, start: start, limit: limit) { s, l in
        appendEscapedLabel(msg, s, l, to: &out)
        out.append(UInt8(ascii: "."))
    }
    let text: String
    switch scan.error {
    case nil: text = out.isEmpty ? "." : String(decoding: out, as: UTF8.self)
    case .tooLong?: text = DNSName.tooLongPlaceholder
    case .loop?: text = DNSName.loopPlaceholder
    case .labelType?: text = DNSName.badLabelPlaceholder
    case .badPointer?, .structural?: text = DNSName.badPointerPlaceholder
    }
    return ReadName(text: text, end: scan.end, error: scan.error, forward: scan.forward)
}

// MARK: - presentation → wire

/// Errors from encoding names and messages.
public enum DNSEncodeError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyLabel(String)
    case labelTooLong(String)
    case nameTooLong(String)
    case badEscape(String)
    case rdataDoesNotMatchType(type: UInt16)
    case badValue(String)
    case messageTooLong(Int)

    public var description: String {
        switch self {
        case .emptyLabel(let n): return "empty label in name \"\(n)\""
        case .labelTooLong(let n): return "label longer than 63 octets in name \"\(n)\""
        case .nameTooLong(let n): return "name longer than 255 octets: \"\(n)\""
        case .badEscape(let n): return "bad escape in name \"\(n)\""
        case .rdataDoesNotMatchType(let t): return "RDATA value does not fit type \(DNSType.mnemonic(t))"
        case .badValue(let s): return "bad value: \(s)"
        case .messageTooLong(let n): return "message of \(n) bytes exceeds 65535"
        }
    }
}

/// Wire form (uncompressed, ending with the root label) of a presentation-format name.
/// Understands `\.`, `\\`, `\X` and `\DDD`; "example.com" and "example.com." are the same;
/// "." (or "") is the root. Non-ASCII characters are kept as their UTF-8 bytes (no IDNA).
public func dnsWireName(_ presentation: String) throws -> [UInt8] {
    let s = Array(presentation.utf8)
    if s.isEmpty || s == [UInt8(ascii: ".")] { return [0] }
    var out = [UInt8]()
    out.reserveCapacity(s.count + 2)
    var label = [UInt8]()
    var i = 0
    func flush() throws {
        guard !label.isEmpty else { throw DNSEncodeError.emptyLabel(presentation) }
        guard label.count <= 63 else { throw DNSEncodeError.labelTooLong(presentation) }
        out.append(UInt8(label.count))
        out.append(contentsOf: label)
        label.removeAll(keepingCapacity: true)
    }
    while i < s.count {
        let c = s[i]
        if c == UInt8(ascii: "\\") {
            guard i + 1 < s.count else { throw DNSEncodeError.badEscape(presentation) }
            let d = s[i + 1]
            if d >= 0x30 && d <= 0x39 {
                guard i + 4 <= s.count else { throw DNSEncodeError.badEscape(presentation) }
                var v = 0
                for k in 1...3 {
                    let x = s[i + k]
                    guard x >= 0x30 && x <= 0x39 else { throw DNSEncodeError.badEscape(presentation) }
                    v = v * 10 + Int(x - 0x30)
                }
                guard v <= 255 else { throw DNSEncodeError.badEscape(presentation) }
                label.append(UInt8(v))
                i += 4
            } else {
                label.append(d)
                i += 2
            }
        } else if c == UInt8(ascii: ".") {
            try flush()
            i += 1
        } else {
            label.append(c)
            i += 1
        }
    }
    if !label.isEmpty { try flush() }
    out.append(0)
    guard out.count <= DNSName.maxWireLength else { throw DNSEncodeError.nameTooLong(presentation) }
    return out
}
