import Foundation

/// Scratch directories for tests. The caller removes them (labs keep them when a test failed).
public enum TempDirs {
    /// Creates and returns `<base>/<prefix>-<unique>`: by default under the system temporary
    /// directory with the first 8 characters of a UUID; `permissions` (e.g. 0o755 for a directory
    /// an unprivileged user must read) are set at creation.
    public static func make(prefix: String, unique: String = String(UUID().uuidString.prefix(8)),
                            in base: URL = FileManager.default.temporaryDirectory, permissions: Int? = nil) throws -> URL {
        let u = base.appendingPathComponent("\(prefix)-\(unique)")
        let attributes: [FileAttributeKey: Any]? = permissions.map { [.posixPermissions: $0] }
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true, attributes: attributes)
        return u
    }
}
