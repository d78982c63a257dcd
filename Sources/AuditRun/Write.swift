import CaptureSource
import Findings
import NetTypes
import ReportRender

#if canImport(Glibc)
import Glibc
#endif

/// The report formats, and the one place a report is rendered in each.
public enum ReportFormat: String, CaseIterable, Sendable {
    case text, json, jsonl, markdown, html, sarif, prometheus, eve

    /// The report as text in this format. `color`: ANSI colours in the text format.
    public func render(_ rep: Report, pretty: Bool = false, color: Bool = false) -> String {
        switch self {
        case .text: return TextReportRenderer.render(rep, color: color)
        case .json: return JSONReportRenderer.render(rep, pretty: pretty) + "\n"
        case .jsonl: return JSONLinesRenderer.render(rep)
        case .markdown: return MarkdownReportRenderer.render(rep)
        case .html: return HTMLReportRenderer.render(rep)
        case .sarif: return SARIFReportRenderer.render(rep, pretty: pretty) + "\n"
        case .prometheus: return PrometheusReportRenderer.render(rep, success: true)
        case .eve: return EVERenderer.render(rep)
        }
    }
}

/// Writes to standard output, or replaces the file at `path` atomically: the text goes to a
/// temporary file in the same directory, is synced, and is renamed over `path` — readers (the
/// node_exporter textfile collector, a dashboard) never see a half-written report. The temporary
/// name starts with a dot and does not end in `.prom`, so collectors skip it. Paths that are not
/// regular files (`/dev/stdout`, a FIFO) are written directly.
public func writeOutput(_ text: String, to path: String?) throws {
    guard let path else {
        let sink = OutputSink.standardOutput()
        sink.write(text)
        try sink.finish()
        return
    }
    if let fd = PreopenedOutputs.shared.take(path) {
        return try writeInPlace(text, fd: fd, path: path)
    }
    var target = path
    var st = stat()
    var existingMode: mode_t?
    if lstat(path, &st) == 0 {
        if (st.st_mode & S_IFMT) == S_IFLNK, let resolved = realpath(path, nil) {
            // Replace the file the link points to, not the link.
            target = String(cString: resolved)
            free(resolved)
            if stat(target, &st) != 0 { st = stat() }
        }
        if (st.st_mode & S_IFMT) == S_IFREG {
            existingMode = st.st_mode & 0o7777
        } else if (st.st_mode & S_IFMT) != 0 {
            return try writeDirect(text, to: path)
        }
    }

    let slash = target.lastIndex(of: "/")
    let dir = slash.map { String(target[..<target.index(after: $0)]) } ?? ""
    let base = slash.map { String(target[target.index(after: $0)...]) } ?? target
    var fd: Int32 = -1
    var tmp = ""
    for attempt in 0..<16 {
        tmp = dir + "." + base + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd >= 0 || errno != EEXIST || attempt == 15 { break }
    }
    guard fd >= 0 else {
        throw RunFailure("cannot write \(path): \(String(cString: strerror(errno))) (a temporary file in the same directory is needed)")
    }
    if let mode = existingMode { _ = fchmod(fd, mode) }
    var failure: String?
    if let err = writeAll(fd, text) {
        failure = err
    } else if fsync(fd) != 0 && errno != EINVAL && errno != EROFS {
        failure = String(cString: strerror(errno))
    }
    if close(fd) != 0 && failure == nil { failure = String(cString: strerror(errno)) }
    if failure == nil && rename(tmp, target) != 0 { failure = String(cString: strerror(errno)) }
    if let failure {
        unlink(tmp)
        throw RunFailure("cannot write \(path): \(failure)")
    }
}

/// For special files (devices, FIFOs): open and write, no rename.
private func writeDirect(_ text: String, to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw RunFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
    let err = writeAll(fd, text)
    close(fd)
    if let err { throw RunFailure("cannot write \(path): \(err)") }
}

/// Writes every byte; the error text on failure.
private func writeAll(_ fd: Int32, _ text: String) -> String? {
    let bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress! + off, raw.count - off) }
        if n < 0 {
            if errno == EINTR { continue }
            return String(cString: strerror(errno))
        }
        off += n
    }
    return nil
}

/// Report files that the user the process drops to could not create: opened (created if need be,
/// not truncated) while still root, and written in place at the end — the way tcpdump opens its
/// -w file before dropping privileges. Files the user can create are written atomically as usual.
public final class PreopenedOutputs: @unchecked Sendable {
    public static let shared = PreopenedOutputs()
    // Guarded by `lock`: filled on the main thread, taken on the capture thread.
    private let lock = NSLockLike()
    private var fds: [String: Int32] = [:]

    /// Opens `path` now unless `user` can create files in its directory. Call before the drop.
    public func prepare(_ path: String, what: String, for user: UnprivilegedUser) throws {
        if (try? requireWritableDirectory(of: path, what: what, user: user, probe: true)) != nil { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw RunFailure("cannot write \(what) \(path): \(String(cString: strerror(errno)))") }
        lock.locked { if let old = fds.updateValue(fd, forKey: path) { close(old) } }
    }

    public func take(_ path: String) -> Int32? {
        lock.locked { fds.removeValue(forKey: path) }
    }
}

/// A mutex from Glibc (Foundation's NSLock is not imported here).
final class NSLockLike: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return try body()
    }
}

/// Replaces the contents of a file opened before the privilege drop: truncated, written, synced.
private func writeInPlace(_ text: String, fd: Int32, path: String) throws {
    defer { close(fd) }
    guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
        throw RunFailure("cannot write \(path): \(String(cString: strerror(errno)))")
    }
    if let err = writeAll(fd, text) { throw RunFailure("cannot write \(path): \(err)") }
    if fsync(fd) != 0 && errno != EINVAL && errno != EROFS {
        throw RunFailure("cannot write \(path): \(String(cString: strerror(errno)))")
    }
}

/// Now, as the report's `generated_at` (RFC 3339, UTC, whole seconds).
public func nowRFC3339() -> String {
    var t = timespec()
    clock_gettime(CLOCK_REALTIME, &t)
    let ts = Timestamp(seconds: Int64(t.tv_sec), nanoseconds: 0)
    let s = ts.rfc3339  // "…T09:00:00.000000000Z"
    if let dot = s.firstIndex(of: ".") { return String(s[..<dot]) + "Z" }
    return s
}

