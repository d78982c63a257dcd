/// Tokens of nft's text syntax, enough to read `nft list ruleset` output and hand-written rule files.
struct NftToken: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case word
        /// A double-quoted string, quotes removed.
        case quoted
        case openBrace, closeBrace, semicolon, comma, newline
        /// `# handle N` at the end of a listed rule or object.
        case handle(Int)
        /// Any other `#` comment (e.g. `# Warning: table ip nat is managed by iptables-nft, do not touch!`).
        case comment
    }

    var kind: Kind
    var text: String
    var line: Int
    /// Byte offsets of the token in the source, for showing a rule as it was written.
    var start: Int
    var end: Int

    var isWord: Bool { kind == .word }
    func isWord(_ w: String) -> Bool { kind == .word && text == w }
    var isEndOfStatement: Bool { kind == .newline || kind == .semicolon }
}

enum NftTokenizer {
    /// Splits the text into tokens; `define NAME = …` lines are applied to later `$NAME` words.
    static func tokenize(_ bytes: [UInt8]) -> [NftToken] {
        var out: [NftToken] = []
        out.reserveCapacity(bytes.count / 4)
        var i = 0, line = 1
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0d || c == 0x0c || c == 0x0b }
        func isSpecial(_ c: UInt8) -> Bool {
            c == UInt8(ascii: "{") || c == UInt8(ascii: "}") || c == UInt8(ascii: ";") || c == UInt8(ascii: ",")
                || c == UInt8(ascii: "\"") || c == UInt8(ascii: "#") || c == 0x0a
        }
        while i < bytes.count {
            let c = bytes[i]
            if isSpace(c) { i += 1; continue }
            let start = i
            switch c {
            case 0x0a:
                out.append(NftToken(kind: .newline, text: "\n", line: line, start: i, end: i + 1))
                line += 1
                i += 1
            case UInt8(ascii: "\\") where i + 1 < bytes.count && (bytes[i + 1] == 0x0a || bytes[i + 1] == 0x0d):
                // Line continuation.
                i += 1
                while i < bytes.count && bytes[i] != 0x0a { i += 1 }
                if i < bytes.count { i += 1; line += 1 }
            case UInt8(ascii: "{"): out.append(NftToken(kind: .openBrace, text: "{", line: line, start: i, end: i + 1)); i += 1
            case UInt8(ascii: "}"): out.append(NftToken(kind: .closeBrace, text: "}", line: line, start: i, end: i + 1)); i += 1
            case UInt8(ascii: ";"): out.append(NftToken(kind: .semicolon, text: ";", line: line, start: i, end: i + 1)); i += 1
            case UInt8(ascii: ","): out.append(NftToken(kind: .comma, text: ",", line: line, start: i, end: i + 1)); i += 1
            case UInt8(ascii: "#"):
                var j = i + 1
                while j < bytes.count && bytes[j] != 0x0a { j += 1 }
                let body = String(decoding: bytes[(i + 1)..<j], as: UTF8.self).trimmingSpaces
                if body.hasPrefix("handle "), let n = Int(body.dropFirst(7).trimmingSpaces) {
                    out.append(NftToken(kind: .handle(n), text: body, line: line, start: i, end: j))
                } else {
                    out.append(NftToken(kind: .comment, text: body, line: line, start: i, end: j))
                }
                i = j
            case UInt8(ascii: "\""):
                var j = i + 1
                var s: [UInt8] = []
                while j < bytes.count && bytes[j] != UInt8(ascii: "\"") && bytes[j] != 0x0a {
                    if bytes[j] == UInt8(ascii: "\\") && j + 1 < bytes.count && bytes[j + 1] != 0x0a { j += 1 }
                    s.append(bytes[j])
                    j += 1
                }
                if j < bytes.count && bytes[j] == UInt8(ascii: "\"") { j += 1 }
                out.append(NftToken(kind: .quoted, text: String(decoding: s, as: UTF8.self), line: line, start: start, end: j))
                i = j
            default:
                var j = i
                while j < bytes.count && !isSpace(bytes[j]) && !isSpecial(bytes[j]) { j += 1 }
                if j == i { j += 1 }
                out.append(NftToken(kind: .word, text: String(decoding: bytes[i..<j], as: UTF8.self), line: line, start: i, end: j))
                i = j
            }
        }
        return applyDefines(out)
    }

    /// `define NAME = tokens…` (to the end of the line, braces balanced) and `$NAME` substitution.
    static func applyDefines(_ tokens: [NftToken]) -> [NftToken] {
        guard tokens.contains(where: { $0.isWord && $0.text.hasPrefix("$") }) || tokens.contains(where: { $0.isWord("define") }) else {
            return tokens
        }
        var defines: [String: [NftToken]] = [:]
        var out: [NftToken] = []
        var i = 0
        var atLineStart = true
        while i < tokens.count {
            let t = tokens[i]
            if atLineStart && t.isWord("define") && i + 2 < tokens.count && tokens[i + 2].isWord("=") {
                let name = tokens[i + 1].text
                var j = i + 3, depth = 0
                var body: [NftToken] = []
                while j < tokens.count {
                    let u = tokens[j]
                    if u.kind == .openBrace { depth += 1 }
                    if u.kind == .closeBrace { depth -= 1 }
                    if depth <= 0 && (u.kind == .newline || u.kind == .semicolon) { break }
                    body.append(contentsOf: substitute(u, defines))
                    j += 1
                }
                defines[name] = body
                i = j
                continue
            }
            atLineStart = t.kind == .newline || t.kind == .semicolon || t.kind == .openBrace
            out.append(contentsOf: substitute(t, defines))
            i += 1
        }
        return out
    }

    static func substitute(_ t: NftToken, _ defines: [String: [NftToken]]) -> [NftToken] {
        guard t.isWord, t.text.hasPrefix("$"), let body = defines[String(t.text.dropFirst())] else { return [t] }
        // Keep the use site's position so rule text and line numbers stay meaningful.
        return body.map { var b = $0; b.line = t.line; b.start = t.start; b.end = t.end; return b }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    var trimmingSpaces: String { String(self).trimmingSpaces }
}
