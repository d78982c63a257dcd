import Foundation
import XCTest

/// A record of a classic pcap file, read back by `readPcap`.
struct PcapRecord: Equatable {
    var seconds: UInt32
    var nanoseconds: UInt32
    var capturedLength: Int
    var originalLength: UInt32
    var data: [UInt8]
}

struct PcapContents {
    var magic: UInt32
    var versionMajor: UInt16
    var versionMinor: UInt16
    var snaplen: UInt32
    var linkType: UInt32
    var records: [PcapRecord]
}

enum TestFailure: Error { case badFile(String) }

/// A minimal little-endian classic pcap reader for the tests.
func readPcap(_ bytes: [UInt8]) throws -> PcapContents {
    func le32(_ i: Int) -> UInt32 {
        UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
    }
    func le16(_ i: Int) -> UInt16 { UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8 }
    guard bytes.count >= 24 else { throw TestFailure.badFile("short global header") }
    var c = PcapContents(magic: le32(0), versionMajor: le16(4), versionMinor: le16(6), snaplen: le32(16),
                         linkType: le32(20), records: [])
    var i = 24
    while i < bytes.count {
        guard i + 16 <= bytes.count else { throw TestFailure.badFile("short record header at \(i)") }
        let caplen = Int(le32(i + 8))
        guard i + 16 + caplen <= bytes.count else { throw TestFailure.badFile("short record at \(i)") }
        c.records.append(PcapRecord(seconds: le32(i), nanoseconds: le32(i + 4), capturedLength: caplen,
                                    originalLength: le32(i + 12), data: Array(bytes[(i + 16)..<(i + 16 + caplen)])))
        i += 16 + caplen
    }
    return c
}

func temporaryPath(_ name: String) -> String {
    let dir = NSTemporaryDirectory() + "packetsynth-tests-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir + "/" + name
}

func readFile(_ path: String) throws -> [UInt8] {
    guard let d = FileManager.default.contents(atPath: path) else { throw TestFailure.badFile("cannot read \(path)") }
    return [UInt8](d)
}

/// Runs a program; returns (status, stdout, stderr). Nil when the program does not exist.
func runProgram(_ executable: String, _ arguments: [String]) throws -> (Int32, String, String)? {
    guard FileManager.default.isExecutableFile(atPath: executable) else { return nil }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func tsharkPath() -> String? {
    for p in ["/usr/bin/tshark", "/usr/local/bin/tshark", "/opt/homebrew/bin/tshark"]
    where FileManager.default.isExecutableFile(atPath: p) {
        return p
    }
    return nil
}

/// Runs tshark with checksum validation on; returns its stdout lines.
func tshark(_ file: String, _ extra: [String]) throws -> [String] {
    guard let path = tsharkPath() else { throw XCTSkip("tshark not installed: skipping the tshark cross-check") }
    let args = ["-n", "-r", file, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                "-o", "tcp.check_checksum:TRUE"] + extra
    guard let (status, out, err) = try runProgram(path, args) else { throw XCTSkip("tshark not runnable") }
    guard status == 0 else { throw TestFailure.badFile("tshark failed (\(status)): \(err)") }
    return out.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
}

/// The directory of the running test binary (where SwiftPM also puts the package's executables).
func buildProductsDirectory() -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? CommandLine.arguments.first ?? "."
    var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // macOS: …/debug/dnsauditPackageTests.xctest/Contents/MacOS/<binary>
    while url.path.contains(".xctest") { url.deleteLastPathComponent() }
    return url.path
}
