import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A test-support failure (a lab that could not be built, a program that did not start…), with
/// the message that explains it.
public struct LabError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Waits until `done()` is true or `timeout` has passed; returns whether it became true.
public func waitUntil(timeout: TimeInterval, poll: TimeInterval = 0.02, _ done: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if done() { return true }
        if Date() >= deadline { return false }
        usleep(useconds_t(poll * 1_000_000))
    }
}

// MARK: - Short runs

/// What a bounded run printed and how it ended.
public struct RunOutcome {
    /// The exit status; -1 if the program could not be stopped.
    public var status: Int32
    public var stdout: String
    public var stdoutData: Data
    public var stderr: String
    /// The program was still running after the timeout and was killed.
    public var timedOut: Bool
    /// stdout then stderr, for failure messages.
    public var output: String { stdout + stderr }
}

/// Ends a `Process` this test started, by its PID: `signal`, then SIGKILL if it has not exited in
/// `grace` s. Returns false if it was still running after the SIGKILL grace period.
@discardableResult
func stopProcess(_ p: Process, signal sig: Int32 = SIGTERM, grace: TimeInterval = 3) -> Bool {
    guard p.isRunning else { return true }
    kill(p.processIdentifier, sig)
    if waitUntil(timeout: grace, { !p.isRunning }) { return true }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    return waitUntil(timeout: 2, { !p.isRunning })
}

/// Runs a program (absolute path) to completion within `timeout` seconds (killed by its PID after
/// that), stdin from /dev/null, its outputs collected through temporary files (no pipe can fill
/// up and block either side). For programs that exit by themselves; servers use `SpawnedProcess`.
public func runBounded(_ exe: String, _ args: [String], timeout: TimeInterval) throws -> RunOutcome {
    let tmp = FileManager.default.temporaryDirectory
    let id = UUID().uuidString
    let outURL = tmp.appendingPathComponent("dnsaudit-run-\(id).out"), errURL = tmp.appendingPathComponent("dnsaudit-run-\(id).err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let outH = try FileHandle(forWritingTo: outURL), errH = try FileHandle(forWritingTo: errURL)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = outH
    p.standardError = errH
    do { try p.run() } catch {
        try? outH.close(); try? errH.close()
        throw LabError("cannot start \(exe): \(error)")
    }
    let finished = waitUntil(timeout: timeout) { !p.isRunning }
    if !finished { stopProcess(p, signal: SIGKILL) }
    if !p.isRunning { p.waitUntilExit() }
    try? outH.close(); try? errH.close()
    let out = (try? Data(contentsOf: outURL)) ?? Data()
    let err = (try? Data(contentsOf: errURL)) ?? Data()
    return RunOutcome(status: p.isRunning ? -1 : p.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stdoutData: out,
                      stderr: String(decoding: err, as: UTF8.self), timedOut: !finished)
}

/// What a `runProcess` printed (stdout as bytes: reports, pcap-derived lines) and how it ended.
public struct ProcessResult {
    public var status: Int32
    public var stdout: Data
    public var stderr: String
    /// The watchdog ended the program (SIGTERM) after the timeout.
    public var timedOut: Bool

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// The non-empty lines of standard error.
    public var stderrLines: [String] { stderr.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty } }
}

/// Holds what another thread produced; the DispatchGroup / semaphore that hands it over orders the accesses.
private final class Handover: @unchecked Sendable {
    var data = Data()
    var timedOut = false
    let process: Process
    init(_ p: Process) { process = p }
}

/// Runs a program to completion through pipes, collecting both outputs (stderr is drained on
/// another thread while this one drains stdout: either can fill its pipe). Standard input is
/// `stdin` (written on another thread), else `stdinFile`, else /dev/null. A watchdog ends this
/// program, and only it, with SIGTERM after `timeout` seconds (nil: no bound), so a hung run
/// fails the test instead of blocking the suite.
public func runProcess(_ exe: URL, _ args: [String], stdin: Data? = nil, stdinFile: URL? = nil,
                       timeout: TimeInterval? = 120) throws -> ProcessResult {
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    let input: FileHandle? = try stdinFile.map { try FileHandle(forReadingFrom: $0) }
    defer { try? input?.close() }
    p.standardInput = stdin != nil ? inPipe : (input ?? FileHandle.nullDevice)
    try p.run()
    if let stdin {
        let writer = inPipe.fileHandleForWriting
        DispatchQueue.global().async {
            writer.write(stdin)
            try? writer.close()
        }
    }
    let errBox = Handover(p)
    let watchdog = Handover(p)
    let timer = DispatchWorkItem {
        if watchdog.process.isRunning {
            watchdog.timedOut = true
            watchdog.process.terminate()
        }
    }
    if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer) }
    let errHandle = err.fileHandleForReading
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errBox.data = errHandle.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    timer.cancel()
    return ProcessResult(status: p.terminationStatus, stdout: outData, stderr: String(decoding: errBox.data, as: UTF8.self),
                         timedOut: watchdog.timedOut)
}

// MARK: - Long-running processes

/// A long-running process a test started (a server, tcpdump, `dnsaudit live`), its output in
/// files, stopped by its PID.
///
/// Spawned with posix_spawn and reaped here by its PID, not with Foundation's `Process`:
/// Foundation notices a child's exit when a socket the child inherited closes, and a program that
/// closes every inherited descriptor at startup (dnsmasq does, and so does dnsaudit) makes
/// Foundation's process manager wait for it in a blocking waitpid — after which no other child's
/// exit is ever noticed (every later `Process.isRunning` stays true). So the child here inherits
/// no descriptor but 0–2, and `isRunning` reaps it with a non-blocking waitpid on its own PID.
public final class SpawnedProcess {
    public let name: String
    public let pid: pid_t
    /// Where standard output goes (standard error too, unless `stderrURL` differs).
    public let stdoutURL: URL
    public let stderrURL: URL
    private var waitStatus: Int32?

    private init(name: String, pid: pid_t, stdoutURL: URL, stderrURL: URL) {
        self.name = name
        self.pid = pid
        self.stdoutURL = stdoutURL
        self.stderrURL = stderrURL
    }

    /// The combined log (when started with `log:`), i.e. the standard output file.
    public var log: URL { stdoutURL }
    public var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    public var stderr: String { stderrURL == stdoutURL ? "" : (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }
    /// Everything it printed: the log, or stdout then stderr when they are separate files.
    public var output: String { stdout + stderr }

    /// Starts `argv` (absolute path first) with stdin from /dev/null, stdout and stderr appended
    /// to `log`; see `spawn(name:_:stdout:stderr:workingDirectory:)`.
    public static func spawn(name: String, _ argv: [String], log: URL, workingDirectory: URL? = nil) throws -> SpawnedProcess {
        try spawn(name: name, argv, stdout: log, stderr: log, workingDirectory: workingDirectory)
    }

    /// Starts `argv` (absolute path first) with stdin from /dev/null, stdout appended to `stdout`
    /// and stderr to `stderr` (the same file: one combined log), no other descriptor inherited,
    /// default signal handling, an empty signal mask and its own process group; in
    /// `workingDirectory` if given.
    public static func spawn(name: String, _ argv: [String], stdout: URL, stderr: URL, workingDirectory: URL? = nil) throws -> SpawnedProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let workingDirectory { try addChdir(&actions, workingDirectory.path) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if stderr == stdout {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderr.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        }
        // Close everything else in the child (glibc ignores a close action on a descriptor that is
        // no longer open).
        for fd in openDescriptors() where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        var attrs = posix_spawnattr_t()
        posix_spawnattr_init(&attrs)
        defer { posix_spawnattr_destroy(&attrs) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attrs, &empty)
        posix_spawnattr_setsigdefault(&attrs, &defaults)
        posix_spawnattr_setflags(&attrs, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, argv[0], &actions, &attrs, cArgs, environ)
        guard rc == 0 else { throw LabError("cannot start \(argv.joined(separator: " ")): posix_spawn error \(rc)") }
        return SpawnedProcess(name: name, pid: pid, stdoutURL: stdout, stderrURL: stderr)
    }

    private typealias AddChdirFunction = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    /// posix_spawn_file_actions_addchdir_np (glibc ≥ 2.29; not visible to Swift's Glibc module).
    private static func addChdir(_ actions: inout posix_spawn_file_actions_t, _ path: String) throws {
        guard let sym = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else {
            throw LabError("posix_spawn_file_actions_addchdir_np is not in the C library")
        }
        let addchdir = unsafeBitCast(sym, to: AddChdirFunction.self)
        let rc = addchdir(&actions, path)
        guard rc == 0 else { throw LabError("posix_spawn_file_actions_addchdir_np(\(path)): error \(rc)") }
    }

    private static func openDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        let fds = names.compactMap { Int32($0) }
        return fds.isEmpty ? Array(3..<1024) : fds
    }

    /// Reaps the child if it has exited (never blocks).
    public var isRunning: Bool {
        if waitStatus != nil { return false }
        var st: Int32 = 0
        let r = waitpid(pid, &st, WNOHANG)
        if r == pid {
            waitStatus = st
            return false
        }
        if r == -1 && errno == ECHILD {
            waitStatus = -1
            return false
        }
        return true
    }

    /// The exit code, or nil while running, after a signal, or if it could not be known.
    public var exitCode: Int32? {
        guard !isRunning, let st = waitStatus, st >= 0, st & 0x7F == 0 else { return nil }
        return (st >> 8) & 0xFF
    }

    /// `signal`, then SIGKILL if it has not exited in `grace` s — always by this PID, never by
    /// name. Returns false if it was still running after the SIGKILL grace period.
    @discardableResult
    public func stop(signal sig: Int32 = SIGTERM, grace: TimeInterval = 3) -> Bool {
        guard isRunning else { return true }
        kill(pid, sig)
        if waitUntil(timeout: grace, { !isRunning }) { return true }
        kill(pid, SIGKILL)
        return waitUntil(timeout: 2, { !isRunning })
    }
}

/// The uid `live` and `audit` drop to by default: the package's `dnsaudit` system user when it
/// exists on this machine, else nobody (65534) — as the code decides it.
public func defaultDropUID() -> String {
    if let pw = getpwnam("dnsaudit") { return String(pw.pointee.pw_uid) }
    return "65534"
}
