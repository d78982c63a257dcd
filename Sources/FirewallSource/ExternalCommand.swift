import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a helper program (iptables-legacy-save, unshare) with a time limit, collecting its output.
enum ExternalCommand {
    struct Output {
        var status: Int32
        var stdout: Data
        var stderr: String
        var timedOut: Bool

        var firstErrorLine: String {
            stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty } ?? ""
        }
    }

    /// Finds an executable in the usual system directories, then in PATH.
    static func find(_ name: String) -> String? {
        var dirs = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
        if let path = ProcessInfo.processInfo.environment["PATH"] {
            dirs += path.split(separator: ":").map(String.init)
        }
        for d in dirs where !d.isEmpty {
            let p = d + "/" + name
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Spawns `argv` (posix_spawn, no shell), reads both outputs until it exits or `timeout`
    /// seconds pass (then it is killed). Plain system calls, no run loop: safe in a namespace
    /// whose loopback interface is down.
    static func run(_ argv: [String], timeout: Double = 60) throws -> Output {
        guard let exe = argv.first else { throw RulesetSourceError("no command to run") }
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0 else { throw RulesetSourceError("cannot run \(exe): pipe failed") }
        guard pipe(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            throw RulesetSourceError("cannot run \(exe): pipe failed")
        }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C"
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, nil, cArgs, cEnv)
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw RulesetSourceError("cannot run \(exe): \(String(cString: strerror(rc)))")
        }

        var out = [UInt8](), err = [UInt8]()
        var open = [outPipe[0], errPipe[0]]
        var buf = [UInt8](repeating: 0, count: 65536)
        let deadline = monotonicSeconds() + timeout
        var timedOut = false
        while !open.isEmpty {
            let left = deadline - monotonicSeconds()
            if left <= 0 {
                timedOut = true
                kill(pid, SIGKILL)
                break
            }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let n = poll(&fds, nfds_t(fds.count), Int32(min(left, 1.0) * 1000))
            if n < 0 && errno != EINTR { break }
            for f in fds where f.revents != 0 {
                let got = buf.withUnsafeMutableBytes { read(f.fd, $0.baseAddress, $0.count) }
                if got > 0 {
                    if f.fd == outPipe[0] { out.append(contentsOf: buf[0..<got]) } else { err.append(contentsOf: buf[0..<got]) }
                } else if got == 0 || (errno != EINTR && errno != EAGAIN) {
                    open.removeAll { $0 == f.fd }
                }
            }
        }
        close(outPipe[0])
        close(errPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS spelled out: the macros do not import.
        let exitCode: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: exitCode, stdout: Data(out), stderr: String(decoding: err, as: UTF8.self), timedOut: timedOut)
    }

    static func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

/// A ruleset that could not be read: one line for the user, saying what to do.
public struct RulesetSourceError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
