import FirewallModel
import NetTypes

/// A contiguous block of addresses of one family: a single address, a prefix or a range.
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    public var low: IPAddress
    public var high: IPAddress
    /// How it was written (`10.0.0.0/8`, `1.1.1.1`), for messages.
    public var text: String

    public init(low: IPAddress, high: IPAddress, text: String) {
        self.low = low
        self.high = high
        self.text = text
    }

    public var description: String { text }
    public var isV6: Bool { low.isV6 }

    public func contains(_ a: IPAddress) -> Bool { a.isV6 == low.isV6 && low <= a && a <= high }
    public func overlaps(_ o: AddressRange) -> Bool { o.isV6 == isV6 && o.low <= high && low <= o.high }
    public var isSingle: Bool { low == high }

    /// `1.2.3.4`, `10.0.0.0/8`, `fd00::/8`, `10.0.0.1-10.0.0.9`; nil for anything else.
    public static func parse(_ text: String) -> AddressRange? {
        let s = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        if let slash = s.firstIndex(of: "/") {
            guard let a = IPAddress(String(s[..<slash])), let len = Int(s[s.index(after: slash)...]) else { return nil }
            return prefix(a, len, text: text)
        }
        if let dash = s.firstIndex(of: "-") {
            guard let a = IPAddress(String(s[..<dash])), let b = IPAddress(String(s[s.index(after: dash)...])),
                  a.isV6 == b.isV6, a <= b else { return nil }
            return AddressRange(low: a, high: b, text: text)
        }
        guard let a = IPAddress(s) else { return nil }
        return AddressRange(low: a, high: a, text: a.description)
    }

    static func prefix(_ a: IPAddress, _ len: Int, text: String) -> AddressRange? {
        if a.isV6 {
            guard (0...128).contains(len) else { return nil }
            let (mh, ml) = mask128(len)
            return AddressRange(low: IPAddress(v6Hi: a.hi & mh, lo: a.lo & ml), high: IPAddress(v6Hi: a.hi | ~mh, lo: a.lo | ~ml), text: text)
        }
        guard (0...32).contains(len) else { return nil }
        let m: UInt32 = len == 0 ? 0 : ~UInt32(0) << UInt32(32 - len)
        let v = UInt32(truncatingIfNeeded: a.lo)
        return AddressRange(low: IPAddress(v4: v & m), high: IPAddress(v4: v | ~m), text: text)
    }

    static func mask128(_ len: Int) -> (UInt64, UInt64) {
        if len == 0 { return (0, 0) }
        if len <= 64 { return (len == 64 ? ~0 : ~UInt64(0) << UInt64(64 - len), 0) }
        let l = len - 64
        return (~0, l == 64 ? ~0 : ~UInt64(0) << UInt64(64 - l))
    }

    /// Loopback, RFC 1918, CGNAT, link-local, ULA and documentation space: addresses that are not a public resolver.
    public var isPrivateOrLocal: Bool {
        AddressRange.nonPublic.contains { $0.contains(low) && $0.contains(high) }
    }

    public var isLoopback: Bool {
        AddressRange.loopback.contains { $0.contains(low) && $0.contains(high) }
    }

    static let loopback: [AddressRange] = ["127.0.0.0/8", "::1/128"].compactMap { parse($0) }
    static let nonPublic: [AddressRange] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
        "::1/128", "fc00::/7", "fe80::/10",
    ].compactMap { parse($0) }

    /// Address ranges a value denotes (a literal, a prefix, a range, an anonymous or named set).
    /// `nil` when some part cannot be known (an unknown named set, an expression).
    static func ranges(of value: NftValue, sets: (String) -> FirewallSet?) -> [AddressRange]? {
        switch value {
        case .string(let s):
            if let name = value.setReference {
                guard let set = sets(name) else { return nil }
                var out: [AddressRange] = []
                for e in set.elements {
                    guard let r = ranges(of: e, sets: { _ in nil }) else { return nil }
                    out += r
                }
                return out
            }
            return parse(s).map { [$0] }
        case .prefix(let a, let n):
            return IPAddress(a).flatMap { prefix($0, n, text: "\(a)/\(n)") }.map { [$0] }
        case .range(.string(let a), .string(let b)):
            return parse("\(a)-\(b)").map { [$0] }
        case .set(let items):
            var out: [AddressRange] = []
            for i in items {
                guard let r = ranges(of: i, sets: sets) else { return nil }
                out += r
            }
            return out
        case .mapping(let k, _):
            return ranges(of: k, sets: sets)
        default:
            return nil
        }
    }
}
