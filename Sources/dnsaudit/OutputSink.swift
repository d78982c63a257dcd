#if canImport(Glibc)
import Glibc
#endif

/// Buffered output to a file descriptor (standard output, standard error or a file).
/// Avoids C `stdout`/`stderr` globals, which Swift 6 treats as shared mutable state.
final class OutputSink {
    private let fd: Int32
    private let ownsFD: Bool
    private var buffer: [UInt8] = []
    private(set) var failed = false

    init(fd: Int32) {
        self.fd = fd
        ownsFD = false
        buffer.reserveCapacity(1 << 16)
    }

    /// Opens (creates or truncates) a file for writing.
    init(path: String) throws {
        let f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard f >= 0 else { throw RunFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
        fd = f
        ownsFD = true
        buffer.reserveCapacity(1 << 16)
    }

    static func standardOutput() -> OutputSink { OutputSink(fd: 1) }

    func write(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        var off = 0
        while off < buffer.count && !failed {
            let n = buffer.withUnsafeBytes { raw in
                Glibc.write(fd, raw.baseAddress.map { $0 + off }, raw.count - off)
            }
            if n < 0 {
                if errno == EINTR { continue }
                failed = true  // e.g. EPIPE when piped into `head`
                break
            }
            off += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() {
        flush()
        if ownsFD { Glibc.close(fd) }
    }

    deinit {
        if !buffer.isEmpty { flush() }
    }
}

/// Writes straight to standard error (unbuffered: progress and one-line errors).
func writeStderr(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
}
