/// A capture timestamp kept as whole seconds plus nanoseconds, never as a lossy Double.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: Int64
    public var nanoseconds: UInt32

    @inlinable
    public init(seconds: Int64, nanoseconds: UInt32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public static let zero = Timestamp(seconds: 0, nanoseconds: 0)

    /// Nanoseconds since the epoch (fits until the year 2262).
    @inlinable
    public var totalNanoseconds: Int64 { seconds &* 1_000_000_000 &+ Int64(nanoseconds) }

    /// `self - other` in nanoseconds (negative when `other` is later).
    @inlinable
    public func nanoseconds(since other: Timestamp) -> Int64 {
        (seconds &- other.seconds) &* 1_000_000_000 &+ (Int64(nanoseconds) &- Int64(other.nanoseconds))
    }

    @inlinable
    public func adding(nanoseconds delta: Int64) -> Timestamp {
        let total = totalNanoseconds &+ delta
        let s = total >= 0 ? total / 1_000_000_000 : (total - 999_999_999) / 1_000_000_000
        return Timestamp(seconds: s, nanoseconds: UInt32(total - s * 1_000_000_000))
    }

    @inlinable
    public static func < (a: Timestamp, b: Timestamp) -> Bool {
        a.seconds != b.seconds ? a.seconds < b.seconds : a.nanoseconds < b.nanoseconds
    }

    /// "1700000000.123456789", as the decode lines print it.
    public var description: String {
        var frac = String(nanoseconds)
        while frac.count < 9 { frac = "0" + frac }
        return "\(seconds).\(frac)"
    }

    /// RFC 3339 UTC with nanoseconds, e.g. "2026-01-15T09:00:00.002000000Z".
    public var rfc3339: String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secOfDay = seconds - days * 86_400
        let (y, m, d) = Timestamp.civil(fromDays: days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var frac = String(nanoseconds)
        while frac.count < 9 { frac = "0" + frac }
        let yStr = String(y)
        return "\(yStr)-\(two(m))-\(two(d))T\(two(secOfDay / 3600)):\(two(secOfDay % 3600 / 60)):\(two(secOfDay % 60)).\(frac)Z"
    }

    /// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
