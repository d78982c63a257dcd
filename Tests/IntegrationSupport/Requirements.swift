import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// What a root-only or tool-dependent test needs, and skipping it when that is missing: every skip
/// is printed too (as "<suite> skipped: <reason>"), so CI logs say why nothing ran.
public enum Requirements {
    /// Searched after `PATH`: a non-login root shell may lack the sbin directories.
    public static let standardDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// The absolute path of executable `name`: looked for in `preferring`, then `PATH`, then
    /// `standardDirectories`; nil if it is nowhere.
    public static func findTool(_ name: String, preferring: [String] = []) -> String? {
        var dirs = preferring
        dirs += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        dirs += standardDirectories
        for d in dirs where !d.isEmpty {
            let p = d + "/" + name
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Whether this process runs as root (effective uid 0).
    public static var isRoot: Bool { geteuid() == 0 }

    /// An `XCTSkip` for `reason`, printed first as "`suite` skipped: `reason`".
    public static func skip(_ suite: String, _ reason: String) -> XCTSkip {
        print("\(suite) skipped: \(reason)")
        return XCTSkip(reason)
    }

    /// Throws a printed skip with `reason` unless this process runs as root.
    public static func requireRoot(_ suite: String, _ reason: String) throws {
        guard isRoot else { throw skip(suite, reason) }
    }

    /// The absolute path of each `(tool, Debian package)` by tool name, or a printed skip that
    /// lists every missing tool with its package ("missing: ip (Debian package iproute2), …").
    public static func requireTools(_ suite: String, _ wanted: [(tool: String, package: String)]) throws -> [String: String] {
        var found: [String: String] = [:]
        var missing: [String] = []
        for (tool, package) in wanted {
            if let p = findTool(tool) { found[tool] = p } else { missing.append("\(tool) (Debian package \(package))") }
        }
        guard missing.isEmpty else { throw skip(suite, "missing: " + missing.joined(separator: ", ")) }
        return found
    }
}
