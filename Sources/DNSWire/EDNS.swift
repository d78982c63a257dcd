import WireBytes

/// The OPT pseudo-RR (RFC 6891).
public struct EDNSInfo: Sendable, Equatable {
    /// Requestor's UDP payload size (the OPT CLASS field).
    public var udpSize: UInt16
    /// The full 12-bit RCODE: upper 8 bits from the OPT TTL, lower 4 from the header.
    public var extendedRCode: UInt16
    public var version: UInt8
    public var dnssecOK: Bool
    public var options: [EDNSOption]

    public init(udpSize: UInt16, extendedRCode: UInt16 = 0, version: UInt8 = 0, dnssecOK: Bool = false, options: [EDNSOption] = []) {
        self.udpSize = udpSize
        self.extendedRCode = extendedRCode
        self.version = version
        self.dnssecOK = dnssecOK
        self.options = options
    }
}

/// One EDNS option.
public enum EDNSOption: Sendable, Equatable {
    /// Client Subnet (RFC 7871). `address` is dotted/RFC 5952 text for families 1 and 2
    /// (zero-padded to the full length), lowercase hex for other families.
    case ecs(family: UInt16, sourcePrefix: UInt8, scopePrefix: UInt8, address: String)
    /// DNS Cookie (RFC 7873): 8-byte client cookie, optional 8–32 byte server cookie.
    case cookie(client: [UInt8], server: [UInt8]?)
    /// Name Server Identifier (RFC 5001); empty in a request.
    case nsid([UInt8])
    /// Padding (RFC 7830): the number of padding bytes.
    case padding(Int)
    /// Extended DNS Error (RFC 8914).
    case extendedError(infoCode: UInt16, extraText: String)
    /// Anything else (and known options whose contents do not parse).
    case other(code: UInt16, data: [UInt8])

    public var code: UInt16 {
        switch self {
        case .ecs: return EDNSOptionCode.ecs
        case .cookie: return EDNSOptionCode.cookie
        case .nsid: return EDNSOptionCode.nsid
        case .padding: return EDNSOptionCode.padding
        case .extendedError: return EDNSOptionCode.extendedError
        case .other(let c, _): return c
        }
    }

    /// Printable-ASCII rendering of NSID bytes (others as '.').
    public static func printable(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.map { $0 >= 0x20 && $0 <= 0x7E ? $0 : UInt8(ascii: ".") }, as: UTF8.self)
    }

    /// Decode one option's value. Returns the option and whether its length was acceptable.
    static func decode(code: UInt16, data d: [UInt8]) -> (EDNSOption, Bool) {
        switch code {
        case EDNSOptionCode.ecs:
            guard d.count >= 4 else { return (.other(code: code, data: d), false) }
            let family = UInt16(d[0]) << 8 | UInt16(d[1])
            let source = d[2]
            let scope = d[3]
            let addr = Array(d[4...])
            let maxLen: Int
            switch family {
            case 1: maxLen = 4
            case 2: maxLen = 16
            default:
                return (.ecs(family: family, sourcePrefix: source, scopePrefix: scope, address: hexBytes(addr)), true)
            }
            guard addr.count <= maxLen, Int(source) <= maxLen * 8, Int(scope) <= maxLen * 8 else {
                return (.other(code: code, data: d), false)
            }
            let padded = addr + [UInt8](repeating: 0, count: maxLen - addr.count)
            let text = family == 1 ? (DNSIPv4Address(bytes: padded)?.description ?? "")
                : (DNSIPv6Address(bytes: padded)?.description ?? "")
            // RFC 7871 §6: exactly ceil(source/8) address bytes.
            let lengthOK = addr.count == (Int(source) + 7) / 8
            return (.ecs(family: family, sourcePrefix: source, scopePrefix: scope, address: text), lengthOK)
        case EDNSOptionCode.cookie:
            if d.count == 8 { return (.cookie(client: d, server: nil), true) }
            if d.count >= 16 && d.count <= 40 { return (.cookie(client: Array(d[0..<8]), server: Array(d[8...])), true) }
            return (.other(code: code, data: d), false)
        case EDNSOptionCode.nsid:
            return (.nsid(d), true)
        case EDNSOptionCode.padding:
            return (.padding(d.count), true)
        case EDNSOptionCode.extendedError:
            guard d.count >= 2 else { return (.other(code: code, data: d), false) }
            let info = UInt16(d[0]) << 8 | UInt16(d[1])
            var text = Array(d[2...])
            // Some servers NUL-terminate EXTRA-TEXT although RFC 8914 says not to.
            while text.last == 0 { text.removeLast() }
            return (.extendedError(infoCode: info, extraText: String(decoding: text, as: UTF8.self)), true)
        default:
            return (.other(code: code, data: d), true)
        }
    }

    /// Wire encoding of the option value (without code and length).
    func encodedValue() throws -> [UInt8] {
        switch self {
        case .ecs(let family, let source, let scope, let address):
            var out: [UInt8] = [UInt8(family >> 8), UInt8(family & 0xff), source, scope]
            let full: [UInt8]
            switch family {
            case 1:
                guard let a = DNSIPv4Address(address) else { throw DNSEncodeError.badValue("ECS address \(address)") }
                full = a.bytes
            case 2:
                guard let a = DNSIPv6Address(address) else { throw DNSEncodeError.badValue("ECS address \(address)") }
                full = a.bytes
            default:
                guard let b = parseHex(address) else { throw DNSEncodeError.badValue("ECS address \(address)") }
                out.append(contentsOf: b)
                return out
            }
            let n = min(full.count, (Int(source) + 7) / 8)
            var addr = Array(full[0..<n])
            // Zero the bits beyond the source prefix (RFC 7871 §6).
            if source % 8 != 0, n > 0 {
                addr[n - 1] &= UInt8(truncatingIfNeeded: 0xFF << (8 - Int(source % 8)))
            }
            out.append(contentsOf: addr)
            return out
        case .cookie(let c, let s): return c + (s ?? [])
        case .nsid(let b): return b
        case .padding(let n): return [UInt8](repeating: 0, count: max(0, min(n, 65535)))
        case .extendedError(let code, let text): return [UInt8(code >> 8), UInt8(code & 0xff)] + Array(text.utf8)
        case .other(_, let d): return d
        }
    }
}

extension EDNSInfo {
    /// Parse OPT RDATA `[start, end)`. Bad option lengths append `.ednsBadOptionLength` and
    /// keep the options parsed so far.
    static func parseOptions(_ msg: UnsafeRawBufferPointer, start: Int, end: Int, anomalies: inout [DNSAnomaly]) -> [EDNSOption] {
        var c = ByteCursor(UnsafeRawBufferPointer(rebasing: msg[0..<end]), offset: start)
        var options: [EDNSOption] = []
        var bad = false
        while !c.isAtEnd {
            guard let code = c.u16(), let len = c.u16(), let body = c.slice(Int(len)) else {
                bad = true
                break
            }
            let (opt, ok) = EDNSOption.decode(code: code, data: Array(body))
            if !ok { bad = true }
            options.append(opt)
        }
        if bad { anomalies.append(.ednsBadOptionLength) }
        return options
    }
}
