import Findings

#if canImport(Glibc)
import Glibc
#endif

/// Checks, before the run does any work, that a report can be written at `path`: an existing
/// special file (a FIFO, /dev/stdout) must be writable; otherwise the path must not be a directory
/// and its directory must exist and be writable (the report is written to a temporary file there,
/// then renamed). `what` names the option in the error ("--output").
public func requireWritableDestination(_ path: String, what: String) throws {
    if path.isEmpty { throw RunFailure("\(what) needs a file name") }
    var st = stat()
    if stat(path, &st) == 0 {
        let type = st.st_mode & S_IFMT
        if type == S_IFDIR { throw RunFailure("\(what) \(path) is a directory: give a file name") }
        if type != S_IFREG {
            guard access(path, W_OK) == 0 else { throw RunFailure("cannot write \(what) \(path): \(String(cString: strerror(errno)))") }
            return
        }
    }
    let dir = path.lastIndex(of: "/").map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
    var ds = stat()
    guard stat(dir, &ds) == 0 else {
        throw RunFailure("cannot write \(what) \(path): its directory \(dir) does not exist (\(String(cString: strerror(errno))))")
    }
    guard (ds.st_mode & S_IFMT) == S_IFDIR else { throw RunFailure("cannot write \(what) \(path): \(dir) is not a directory") }
    guard access(dir, W_OK | X_OK) == 0 else {
        throw RunFailure("cannot write \(what) \(path): cannot create files in \(dir) (\(String(cString: strerror(errno))))")
    }
}

extension ReportFormat {
    /// Colour only for text on a terminal (`output` nil = standard output), and never with NO_COLOR.
    public func wantsColor(output: String?) -> Bool {
        self == .text && output == nil && isatty(1) == 1 && getenv("NO_COLOR") == nil
    }

    /// Renders `rep` in this format and writes it to `output` (atomically), or to standard output when nil.
    public func write(_ rep: Report, pretty: Bool = false, to output: String?) throws {
        try writeOutput(render(rep, pretty: pretty, color: wantsColor(output: output)), to: output)
    }
}
