import Foundation

/// Where this package and its built `dnsaudit` are, for the black-box and root-only test targets
/// (which link no dnsaudit module and run the executable instead).
public enum PackagePaths {
    /// The package root (…/Tests/IntegrationSupport/Binary.swift → …).
    public static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The built `dnsaudit`: next to the running `.xctest` bundle (SwiftPM puts the package's
    /// executables there), else `.build/debug/dnsaudit` of this package.
    public static var dnsaudit: URL {
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            return b.bundleURL.deletingLastPathComponent().appendingPathComponent("dnsaudit")
        }
        return root.appendingPathComponent(".build/debug/dnsaudit")
    }

    /// Whether `dnsaudit` has been built (`swift build --build-tests`).
    public static var dnsauditIsBuilt: Bool { FileManager.default.isExecutableFile(atPath: dnsaudit.path) }
}
