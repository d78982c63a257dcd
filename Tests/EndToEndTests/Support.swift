import Foundation
import IntegrationSupport
import XCTest

/// Paths shared by the end-to-end tests.
enum TestPaths {
    /// The package root.
    static var root: URL { PackagePaths.root }

    /// `../shared/captures-real`, present on the developers' and CI machines, not in a user's clone.
    static var realCaptures: URL? {
        let u = root.deletingLastPathComponent().appendingPathComponent("shared/captures-real")
        return FileManager.default.fileExists(atPath: u.appendingPathComponent("MANIFEST.tsv").path) ? u : nil
    }

    static func requireRealCaptures() throws -> URL {
        guard let u = realCaptures else {
            throw XCTSkip("../shared/captures-real is not present (a user's clone has none): conformance tests skipped")
        }
        return u
    }

    /// The built `dnsaudit` executable next to the test bundle.
    static var dnsaudit: URL { PackagePaths.dnsaudit }

    /// Every capture listed in MANIFEST.tsv (relative paths).
    static func manifestCaptures(_ base: URL) throws -> [String] {
        let text = try String(contentsOf: base.appendingPathComponent("MANIFEST.tsv"), encoding: .utf8)
        return text.split(separator: "\n").dropFirst().compactMap { $0.split(separator: "\t").first.map(String.init) }
    }
}

/// Decodes `%XX` escapes used in the truth TSVs.
func tsvUnescape(_ s: String) -> String {
    guard s.contains("%") else { return s }
    var out = [UInt8]()
    let b = Array(s.utf8)
    var i = 0
    while i < b.count {
        if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
            out.append(v)
            i += 3
        } else {
            out.append(b[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}
