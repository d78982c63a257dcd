#if canImport(Glibc)
import Glibc
#endif

/// A run that cannot be done: bad input, missing privilege, a write that failed. The command line
/// prints `message` as one line on standard error and exits 2 (`silent`: no line, as when the
/// reader of standard output went away).
public struct RunFailure: Error, Sendable {
    public var message: String
    public var silent = false
    public init(_ message: String, silent: Bool = false) {
        self.message = message
        self.silent = silent
    }
}

/// "dnsaudit: MESSAGE" on standard error.
public func printError(_ message: String) {
    var line = "dnsaudit: " + message
    if !line.hasSuffix("\n") { line += "\n" }
    writeStderr(line)
}

/// Buffered output to a file descriptor (standard output, standard error or a file).
/// Avoids C `stdout`/`stderr` globals, which Swift 6 treats as shared mutable state.
/// Every write and the close are checked: `finish()` throws the first failure as one line.
public final class OutputSink {
    private let fd: Int32
    private let ownsFD: Bool
    /// What the sink writes to, for error messages ("standard output", a path).
    private let name: String
    private var buffer: [UInt8] = []
    /// The errno of the first failed write or close (0: none); writing stops after it.
    public private(set) var failure: Int32 = 0
    public var failed: Bool { failure != 0 }

    public init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
        ownsFD = false
        buffer.reserveCapacity(1 << 16)
    }

    /// Opens (creates or truncates) a file for writing.
    public init(path: String) throws {
        let f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard f >= 0 else { throw RunFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
        fd = f
        name = path
        ownsFD = true
        buffer.reserveCapacity(1 << 16)
    }

    public static func standardOutput() -> OutputSink { OutputSink(fd: 1, name: "standard output") }

    public func write(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Writes `bytes` now, after anything buffered, with write(2) straight from the caller's
    /// buffer (large batches of lines: no copy into the sink's own buffer).
    public func write(bytes: [UInt8]) {
        if !buffer.isEmpty { flush() }
        bytes.withUnsafeBytes { writeAll($0) }
    }

    public func flush() {
        buffer.withUnsafeBytes { writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Every byte, retrying short writes and EINTR; stops at the first failure, kept in `failure`.
    private func writeAll(_ raw: UnsafeRawBufferPointer) {
        var off = 0
        while off < raw.count && !failed {
            let n = Glibc.write(fd, raw.baseAddress.map { $0 + off }, raw.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno  // e.g. ENOSPC on a full disk, EPIPE when piped into `head`
                break
            }
            off += n
        }
    }

    /// Flushes and closes (a file; standard output stays open). Failures are kept in `failure`.
    public func close() {
        flush()
        if ownsFD && fd >= 0 {
            if Glibc.close(fd) != 0 && failure == 0 && errno != EINTR { failure = errno }
        } else if !failed && fd == 1 && fsyncIfFile(fd) != 0 {
            failure = errno
        }
    }

    /// Flushes, closes, and turns a failed write into the run's failure: one line on standard
    /// error and exit 2. A reader that went away (EPIPE: `| head`) ends the run quietly with exit 2.
    public func finish() throws {
        close()
        guard failed else { return }
        if failure == EPIPE { throw RunFailure("", silent: true) }
        throw RunFailure("cannot write \(name): \(String(cString: strerror(failure)))")
    }

    deinit {
        if !buffer.isEmpty { flush() }
    }
}

/// For standard output redirected to a regular file (`> report.json`): fsync, so that a full disk
/// that only shows at write-back is still reported. Pipes, terminals and devices are left alone.
private func fsyncIfFile(_ fd: Int32) -> Int32 {
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return 0 }
    let r = fsync(fd)
    return r != 0 && (errno == EINVAL || errno == EROFS) ? 0 : r
}

/// Writes straight to standard error (unbuffered: progress and one-line errors).
public func writeStderr(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
}
