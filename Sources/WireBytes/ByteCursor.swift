/// A bounds-checked, big-endian reader over borrowed raw bytes.
///
/// Every read returns `nil` instead of trapping when the input is too short, so parsers
/// built on it turn hostile input into a counted error instead of a crash. The cursor
/// never copies: it holds the buffer it was given, which must outlive it.
public struct ByteCursor {
    public let bytes: UnsafeRawBufferPointer
    public var offset: Int

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    @inlinable public var remaining: Int { bytes.count - offset }
    @inlinable public var isAtEnd: Bool { offset >= bytes.count }

    @inlinable
    public mutating func u8() -> UInt8? {
        guard offset < bytes.count else { return nil }
        let v = bytes[offset]
        offset += 1
        return v
    }

    @inlinable
    public mutating func u16() -> UInt16? {
        guard offset >= 0, bytes.count - offset >= 2 else { return nil }
        let v = UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        offset += 2
        return v
    }

    @inlinable
    public mutating func u24() -> UInt32? {
        guard offset >= 0, bytes.count - offset >= 3 else { return nil }
        let v = UInt32(bytes[offset]) << 16 | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2])
        offset += 3
        return v
    }

    @inlinable
    public mutating func u32() -> UInt32? {
        guard offset >= 0, bytes.count - offset >= 4 else { return nil }
        let v = UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
        offset += 4
        return v
    }

    @inlinable
    public mutating func u64() -> UInt64? {
        guard let hi = u32(), let lo = u32() else { return nil }
        return UInt64(hi) << 32 | UInt64(lo)
    }

    /// Borrow the next `count` bytes without copying.
    @inlinable
    public mutating func slice(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, offset >= 0, bytes.count - offset >= count else { return nil }
        let s = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        return s
    }

    @inlinable
    public mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, offset >= 0, bytes.count - offset >= count else { return false }
        offset += count
        return true
    }
}

extension UnsafeRawBufferPointer {
    /// Big-endian 16-bit value at `at`, or nil when out of bounds.
    @inlinable @inline(__always)
    public func be16(at i: Int) -> UInt16? {
        guard i >= 0, i + 2 <= count else { return nil }
        return UInt16(self[i]) << 8 | UInt16(self[i + 1])
    }

    /// Big-endian 32-bit value at `at`, or nil when out of bounds.
    @inlinable @inline(__always)
    public func be32(at i: Int) -> UInt32? {
        guard i >= 0, i + 4 <= count else { return nil }
        return UInt32(self[i]) << 24 | UInt32(self[i + 1]) << 16 | UInt32(self[i + 2]) << 8 | UInt32(self[i + 3])
    }

    /// A borrowed sub-range, or nil when out of bounds.
    @inlinable
    public func sub(_ start: Int, _ length: Int) -> UnsafeRawBufferPointer? {
        guard start >= 0, length >= 0, start <= count, count - start >= length else { return nil }
        return UnsafeRawBufferPointer(rebasing: self[start..<(start + length)])
    }
}

/// Lowercase hex of raw bytes.
public func hexString(_ bytes: UnsafeRawBufferPointer) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}

public func hexString(_ bytes: [UInt8]) -> String {
    bytes.withUnsafeBytes { hexString($0) }
}
