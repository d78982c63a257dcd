import Foundation
import XCTest

/// Paths shared by the end-to-end tests.
enum TestPaths {
    /// The package root (…/Tests/EndToEndTests/Support.swift → …).
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

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
    static var dnsaudit: URL {
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            return b.bundleURL.deletingLastPathComponent().appendingPathComponent("dnsaudit")
        }
        return root.appendingPathComponent(".build/debug/dnsaudit")
    }

    /// Every capture listed in MANIFEST.tsv (relative paths).
    static func manifestCaptures(_ base: URL) throws -> [String] {
        let text = try String(contentsOf: base.appendingPathComponent("MANIFEST.tsv"), encoding: .utf8)
        return text.split(separator: "\n").dropFirst().compactMap { $0.split(separator: "\t").first.map(String.init) }
    }
}

struct ProcessResult {
    var status: Int32
    var stdout: Data
    var stderr: String
}

/// Runs a program to completion, collecting both outputs.
func runProcess(_ exe: URL, _ args: [String], stdin: Data? = nil) throws -> ProcessResult {
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    p.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
    try p.run()
    if let stdin {
        let writer = inPipe.fileHandleForWriting
        DispatchQueue.global().async {
            writer.write(stdin)
            try? writer.close()
        }
    }
    // Read stderr on another thread while this one drains stdout (either can fill its pipe).
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let errHandle = err.fileHandleForReading
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errBox.data = errHandle.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return ProcessResult(status: p.terminationStatus, stdout: outData, stderr: String(decoding: errBox.data, as: UTF8.self))
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
