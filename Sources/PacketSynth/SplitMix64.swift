// A small seeded generator (SplitMix64, Steele/Lea/Flood 2014) with helpers whose results do
// not depend on the standard library's sampling algorithms, so output is stable across toolchains.

public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (0 when bound is 0), by multiply-shift (Lemire, without rejection:
    /// a bias below 2^-32 for the bounds used here).
    public mutating func next(below bound: UInt64) -> UInt64 {
        guard bound > 0 else { return 0 }
        return next().multipliedFullWidth(by: bound).high
    }

    /// Uniform in 0..<bound.
    public mutating func int(below bound: Int) -> Int {
        bound <= 0 ? 0 : Int(next(below: UInt64(bound)))
    }

    /// Uniform in the closed range.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + int(below: range.upperBound - range.lowerBound + 1)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    public mutating func uint16() -> UInt16 { UInt16(truncatingIfNeeded: next() >> 48) }
    public mutating func uint32() -> UInt32 { UInt32(truncatingIfNeeded: next() >> 32) }

    /// `count` random bytes (eight per generator step, little-endian).
    public mutating func bytes(_ count: Int) -> [UInt8] {
        let n = max(0, count)
        return [UInt8](unsafeUninitializedCapacity: n) { buffer, initialized in
            var i = 0
            while i + 8 <= n {
                let w = next().littleEndian
                withUnsafeBytes(of: w) { src in
                    UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[i..<(i + 8)])
                        .copyMemory(from: src)
                }
                i += 8
            }
            if i < n {
                var w = next()
                while i < n {
                    buffer[i] = UInt8(truncatingIfNeeded: w)
                    w >>= 8
                    i += 1
                }
            }
            initialized = n
        }
    }

    /// An element of a non-empty array (nil when empty).
    public mutating func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[int(below: items.count)]
    }
}
