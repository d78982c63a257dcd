import ArgumentParser
import CaptureSource
import Findings
import ReportRender
import TLSCertificates

#if canImport(Glibc)
import Glibc
#endif

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, jsonl, markdown, html, sarif, prometheus
}

extension Severity: ExpressibleByArgument {}

/// Options every report-producing command shares (CONTRACT.md "Common options").
struct ReportOptions: ParsableArguments {
    @Option(name: .long, help: "Report format: text, json, jsonl, markdown, html, sarif, prometheus.")
    var format: OutputFormat = .text
    @Option(name: .long, help: "Write the report to this file instead of standard output (atomically: a temporary file in the same directory, then renamed).")
    var output: String?
    @Option(name: .customLong("fail-on"), help: "Exit 1 when a finding is at or above this severity: info, low, medium, high, critical.")
    var failOn: Severity = .medium
    @Flag(name: [.short, .long], help: "No progress display on standard error.")
    var quiet = false
    @Flag(name: .long, help: "Pretty-print JSON and SARIF.")
    var pretty = false
    @Option(name: .long, help: "Reference resolver, repeatable: https://HOST[:PORT]/PATH[#NAME] = DoH, tls://HOST[:PORT][#NAME] = DoT (#NAME: the name its certificate must carry). Used by analyze, live, probe.")
    var reference: [String] = []
    @Option(name: .customLong("ca-file"), help: "Extra trust roots (PEM): for server certificates in captures (an approved inspection CA, a lab CA) and references with a private CA.")
    var caFile: String?
    @Option(name: .long, help: "A saved ruleset (nft text or JSON, iptables-save) to audit and tie to the capture's DNS (analyze); repeatable (the client's and the router's).")
    var ruleset: [String] = []
    @Flag(name: .customLong("fail-on-inconclusive"), help: "Exit 3 when nothing at or above --fail-on was found but the run could not examine what it was asked to (no packets, an unsupported link type, no usable reference, every audit part disabled).")
    var failOnInconclusive = false
    @Option(name: .long, help: "Policy file (TOML): approved resolvers and NAT targets (see rules/policy.example.toml).")
    var policy: String?

    /// Every format in `OutputFormat` is available; kept as the commands' hook for format checks.
    func validateFormat() throws {
        if let output, output.isEmpty { throw RunFailure("--output needs a file name") }
    }

    /// The system trust store plus --ca-file.
    func trustSettings() throws -> TrustSettings {
        guard let caFile else { return TrustSettings() }
        do {
            return TrustSettings(additionalRoots: try TrustRoots.load(pemFile: caFile))
        } catch let e as TrustRoots.LoadError {
            throw RunFailure("--ca-file: \(e.description)")
        }
    }

    func validateUnsupported() throws {
        if !reference.isEmpty { throw RunFailure("--reference is not available in this version yet (reference resolvers come with 'probe')") }
    }
}

/// Renders the report in the chosen format to --output or standard output.
func emit(_ rep: Report, _ options: ReportOptions) throws {
    try writeOutput(render(rep, options), to: options.output)
}

/// The report as text in the chosen format.
func render(_ rep: Report, _ options: ReportOptions) -> String {
    switch options.format {
    case .text:
        let color = options.output == nil && isatty(1) == 1 && getenv("NO_COLOR") == nil
        return TextReportRenderer.render(rep, color: color)
    case .json:
        return JSONReportRenderer.render(rep, pretty: options.pretty) + "\n"
    case .jsonl:
        return JSONLinesRenderer.render(rep)
    case .markdown:
        return MarkdownReportRenderer.render(rep)
    case .html:
        return HTMLReportRenderer.render(rep)
    case .sarif:
        return SARIFReportRenderer.render(rep, pretty: options.pretty) + "\n"
    case .prometheus:
        return PrometheusReportRenderer.render(rep, success: true)
    }
}

/// Writes to standard output, or replaces the file at `path` atomically: the text goes to a
/// temporary file in the same directory, is synced, and is renamed over `path` — readers (the
/// node_exporter textfile collector, a dashboard) never see a half-written report. The temporary
/// name starts with a dot and does not end in `.prom`, so collectors skip it. Paths that are not
/// regular files (`/dev/stdout`, a FIFO) are written directly.
func writeOutput(_ text: String, to path: String?) throws {
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
final class PreopenedOutputs: @unchecked Sendable {
    static let shared = PreopenedOutputs()
    // Guarded by `lock`: filled on the main thread, taken on the capture thread.
    private let lock = NSLockLike()
    private var fds: [String: Int32] = [:]

    /// Opens `path` now unless `user` can create files in its directory. Call before the drop.
    func prepare(_ path: String, what: String, for user: UnprivilegedUser) throws {
        if (try? requireWritableDirectory(of: path, what: what, user: user, probe: true)) != nil { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw RunFailure("cannot write \(what) \(path): \(String(cString: strerror(errno)))") }
        lock.locked { if let old = fds.updateValue(fd, forKey: path) { close(old) } }
    }

    func take(_ path: String) -> Int32? {
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
