import AnalysisEngine
import CaptureDrivers
import CaptureSource
import DNSAnalysis
import Dispatch
import Findings
import NetTypes
import PacketDecode
import Probes
import ReportRender
import ResolverClients

#if canImport(Glibc)
import Glibc
#endif

/// Everything a live session needs, fixed before it starts.
public struct LiveSettings: Sendable {
    public enum Stream: Sendable { case text, jsonl }
    public var capture: LiveCaptureOptions
    public var analysis: AnalysisOptions
    public var dropTo: UnprivilegedUser?
    public var write: String?
    public var writeMaxBytes: Int64?
    public var duration: Double?
    /// How findings are printed while capturing; nil: only the final report.
    public var stream: Stream?
    public var outputPath: String?
    /// Every report file the run writes at its end (--output, the audit's outputs), with what it is.
    public var extraOutputs: [(path: String, what: String)] = []
    public var quiet: Bool
    /// References asked about the capture's answers while it runs (nil: none).
    public var references: BackgroundReferences? = nil
    /// Analysis worker threads (`--threads`): the capture loop hands frames to flow-sharded
    /// workers. With references: 1.
    public var threads = 1

    public init(capture: LiveCaptureOptions, analysis: AnalysisOptions, dropTo: UnprivilegedUser?, write: String?,
                writeMaxBytes: Int64?, duration: Double?, stream: Stream?, outputPath: String?,
                extraOutputs: [(path: String, what: String)] = [], quiet: Bool, references: BackgroundReferences? = nil) {
        self.capture = capture
        self.analysis = analysis
        self.dropTo = dropTo
        self.write = write
        self.writeMaxBytes = writeMaxBytes
        self.duration = duration
        self.stream = stream
        self.outputPath = outputPath
        self.extraOutputs = extraOutputs
        self.quiet = quiet
        self.references = references
    }

    var reportPaths: [(path: String, what: String)] {
        (outputPath.map { [($0, "the --output report")] } ?? []) + extraOutputs
    }
}

/// Ctrl-C and SIGTERM, from dispatch signal sources (never a C handler): the first asks the
/// capture to stop (pcap_breakloop); a second one quits at once.
final class StopRequests: @unchecked Sendable {
    // All state under `lock`: written by the signal queue and the capture thread.
    private let lock = DispatchSemaphore(value: 1)
    private var breaker: LiveCaptureBreaker?
    private var requested = 0

    func installSignalHandlers() -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)  // delivered to the dispatch source instead
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in self.request() }
            source.resume()
            return source
        }
    }

    func request() {
        lock.wait()
        requested += 1
        let n = requested
        let b = breaker
        lock.signal()
        if n >= 2 {
            writeStderr("\ndnsaudit: stopped without a report\n")
            _exit(130)
        }
        b?.stop()
    }

    /// Hands over the capture's breaker; stops it at once when a stop came before.
    func attach(_ b: LiveCaptureBreaker) {
        lock.wait()
        breaker = b
        let stopNow = requested > 0
        lock.signal()
        if stopNow { b.stop() }
    }

    func detach() {
        lock.wait()
        breaker = nil
        lock.signal()
    }
}

/// One live run, on its dedicated thread: open, drop privileges, capture and analyse, report.
public final class LiveSession {
    let settings: LiveSettings
    let stops: StopRequests
    /// The capture's queries per resolver path, once `run()` returned (for the audit's correlation).
    private(set) var paths = DNSPathTally()
    /// The resolvers the capture showed answering DNS, once `run()` returned.
    private(set) var answering: [IPAddress] = []
    private let out = OutputSink.standardOutput()

    init(_ settings: LiveSettings, stops: StopRequests) {
        self.settings = settings
        self.stops = stops
    }

    /// A whole session as `live` and `audit` run it: Ctrl-C / SIGTERM stop it, and the handle, the
    /// analyzer and the dump files live on one dedicated thread from start to end. Returns the
    /// report and the capture's queries per resolver path.
    public static func runWithSignals(_ settings: LiveSettings) throws -> (Report, DNSPathTally, [IPAddress]) {
        let stops = StopRequests()
        let signals = stops.installSignalHandlers()
        defer { signals.forEach { $0.cancel() } }
        let session = LiveSession(settings, stops: stops)
        let outcome = runOnDedicatedThread { () -> Result<Report, RunFailure> in
            do {
                return .success(try session.run())
            } catch let f as RunFailure {
                return .failure(f)
            } catch {
                return .failure(RunFailure("\(error)"))
            }
        }
        return (try outcome.get(), session.paths, session.answering)
    }

    func run() throws -> Report {
        let s = settings
        // Files made after the drop: checked first (with the user's effective ids), so that a run
        // that cannot finish fails before it opens anything.
        if let u = s.dropTo {
            if let w = s.write, s.writeMaxBytes != nil { try requireWritableDirectory(of: w, what: "--write-max-mb rotation files", user: u, probe: true) }
            // Report files go wherever root can write: opened now when the user could not create them.
            for (path, what) in s.reportPaths { try PreopenedOutputs.shared.prepare(path, what: what, for: u) }
        }
        let cap: LiveCapture
        do {
            cap = try LiveCapture(s.capture)
        } catch let e as LiveCaptureError {
            throw RunFailure(e.message)
        }
        defer { cap.close() }
        if let w = s.write {
            do { try cap.startWriting(to: w, maxBytes: s.writeMaxBytes) } catch let e as LiveCaptureError { throw RunFailure(e.message) }
        }
        var runsAs = userName(geteuid())
        if let u = s.dropTo {
            do { try dropPrivileges(to: u) } catch let e as PrivilegeDropError { throw RunFailure(e.message) }
            runsAs = u.name
            // Files made after the drop: say now, not at the end of a long run.
            if let w = s.write, s.writeMaxBytes != nil { try requireWritableDirectory(of: w, what: "--write-max-mb rotation files", user: u) }
        }
        stops.attach(cap.breaker)
        defer { stops.detach() }

        let link = LinkType(dlt: cap.linkType)
        if !s.quiet {
            var line = "listening on \(s.capture.interface), link type \(link.name), snap length \(cap.snapLength), "
                + (cap.filter.isEmpty ? "no filter" : "filter '\(cap.filter)'")
            line += ", running as \(runsAs)"
            if let d = s.duration { line += ", for \(formatSeconds(d))" }
            printError(line + "; Ctrl-C for the report")
        }
        for w in cap.warnings { printError("warning: " + w) }

        let started = monotonicNow()
        let deadline = s.duration.map { started + $0 }
        var nextTick = started + 1
        var writeErrorShown = false
        /// Packets written so far reach the file; a failed write is shown once, while running.
        func flushWrites() {
            cap.flushWrites()
            if !writeErrorShown, let e = cap.writeError {
                writeErrorShown = true
                printError("warning: " + e)
            }
        }
        let stream = s.stream
        if s.threads > 1 && s.references == nil {
            let options = s.analysis
            let sharded: (analysis: MergedAnalysis, end: LiveReadEnd, facts: InputResult)
            do {
                sharded = try ShardedDriver.runLive(
                    cap, threads: s.threads, makeCore: { CaptureAnalyzer(options: options) }, name: s.capture.interface,
                    onFindings: stream.map { st in { self.print($0, st) } },
                    idle: {
                        let now = monotonicNow()
                        if now >= nextTick {
                            nextTick = now + 1
                            flushWrites()
                        }
                        if let deadline, now >= deadline { return false }
                        return true
                    })
            } catch let e as ShardingError {
                throw RunFailure(e.description)
            }
            return finishReport(sharded.analysis, result: sharded.facts, end: sharded.end, cap: cap, link: link,
                                runsAs: runsAs, elapsed: monotonicNow() - started)
        }
        let analyzer = CaptureAnalyzer(options: s.analysis)

        let end = LiveDriver.run(cap, into: analyzer, name: s.capture.interface, afterFrame: {
            if let stream { self.print(analyzer.drainNewFindings(), stream) }
        }, idle: {
            let now = monotonicNow()
            if now >= nextTick {
                nextTick = now + 1
                // Timeouts follow the clock even when nothing arrives (packet times are the same clock).
                analyzer.expire(now: max(realtimeNow(), analyzer.currentInputFacts.last ?? .zero))
                if let stream { self.print(analyzer.drainNewFindings(), stream) }
                if let refs = s.references {
                    refs.submitNew(from: analyzer.capturedAnswers, inputName: s.capture.interface)
                    if let stream { self.print(refs.drainNew(), stream) }
                }
                flushWrites()
            }
            if let deadline, now >= deadline { return false }
            return true
        })
        let elapsed = monotonicNow() - started
        var inputEnd = InputEnd.endOfFile
        if case .error(let e) = end { inputEnd = .readError(e) }
        let result = analyzer.currentInputFacts
        analyzer.endInput(end: inputEnd)
        return finishReport(analyzer, result: result, end: end, cap: cap, link: link, runsAs: runsAs, elapsed: elapsed)
    }

    /// The report of a capture whose analysis has ended (one core or the merged workers).
    private func finishReport(_ analyzer: AnalysisOutcome, result: InputResult, end: LiveReadEnd, cap: LiveCapture,
                              link: LinkType, runsAs: String, elapsed: Double) -> Report {
        let s = settings
        let stats = cap.stats()
        let files = cap.writtenFiles
        let writeError = cap.writeError
        cap.close()  // flushes the dump files
        if case .error(let e) = end {
            printError("warning: capture on \(s.capture.interface) ended early: \(e); reporting what was captured")
        }
        var findings = analyzer.finish()
        paths = analyzer.dnsPaths
        answering = analyzer.answeringResolvers
        var referenceNotes: [String] = []
        if let refs = s.references {
            refs.submitRest(from: analyzer.capturedAnswers, inputName: s.capture.interface)
            let (more, notes) = refs.finish(timeoutSeconds: 15)
            try? runBlocking { await refs.close() }
            let known = Set(findings.map(\.id))
            findings += more.filter { !known.contains($0.id) }
            referenceNotes = notes
        }
        out.close()

        var summary = analyzer.summary()
        var notes = analyzer.notes() + referenceNotes
        var facts: [(String, SubjectValue)] = [
            ("link_type", .string(link.name)), ("packets", .int(result.packets)), ("bytes", .int(result.bytes)),
        ]
        if let f = result.first { facts.append(("first_packet", .string(f.rfc3339))) }
        if let l = result.last { facts.append(("last_packet", .string(l.rfc3339))) }
        facts.append(("duration_seconds", .string(formatSeconds(elapsed))))
        facts.append(("filter", .string(cap.filter)))
        facts.append(("snaplen", .int(Int(cap.snapLength))))
        facts.append(("user", .string(runsAs)))
        if case .error(let e) = end {
            facts.append(("complete", .string("false")))
            facts.append(("read_error", .string(e)))
        }
        if let st = stats {
            facts.append(("received", .int(Int(st.received))))
            facts.append(("dropped", .int(Int(st.dropped))))
            facts.append(("interface_dropped", .int(Int(st.interfaceDropped))))
            summary.dropped += Int(st.dropped + st.interfaceDropped)
            summary.counters.insert(contentsOf: [
                ("capture_received", Int(st.received)), ("capture_dropped_kernel", Int(st.dropped)),
                ("capture_dropped_interface", Int(st.interfaceDropped)),
            ], at: 0)
            if st.dropped > 0 {
                notes.append("The kernel dropped \(st.dropped) of \(st.received) packets because the capture buffer was full "
                             + "(the analysis did not keep up): findings may be missing. Raise --buffer-size or narrow --filter.")
            }
            if st.interfaceDropped > 0 {
                notes.append("The interface or its driver dropped \(st.interfaceDropped) packets before the capture saw them.")
            }
        } else {
            notes.append("libpcap gave no capture statistics for \(s.capture.interface): drops are unknown.")
        }
        if !files.isEmpty { facts.append(("written", .string(files.joined(separator: ", ")))) }
        if let e = writeError { notes.append(e) }
        notes += cap.warnings
        return Report(toolVersion: DNSAuditVersion.current, generatedAt: nowRFC3339(),
                      inputs: [ReportInput(kind: "live", name: s.capture.interface, facts: facts)]
                        + (s.references.map { referenceInputs($0.references) } ?? []),
                      summary: summary, findings: findings, notes: notes)
    }

    /// One line per finding on standard output, as soon as it is decided.
    private func print(_ findings: [Finding], _ stream: LiveSettings.Stream) {
        guard !findings.isEmpty else { return }
        let now = nowRFC3339()
        for f in findings {
            switch stream {
            case .jsonl:
                // The very line the final jsonl report has for a finding (event_type "finding", ECS fields).
                let one = Report(toolVersion: DNSAuditVersion.current, generatedAt: now, findings: [f])
                if let line = JSONLinesRenderer.render(one).split(separator: "\n").first { out.write(line + "\n") }
            case .text:
                var seen = Set<UInt64>()
                let frames = f.evidence.flatMap(\.frames).filter { seen.insert($0).inserted }
                var line = "\(now) \(f.severity.rawValue.uppercased()) [\(f.confidence.rawValue)] \(f.kind): \(f.title)"
                if !frames.isEmpty { line += " (frames \(frames.prefix(6).map(String.init).joined(separator: ", ")))" }
                out.write(line + "\n")
            }
        }
        out.flush()
    }
}

/// Can `user` create files next to `path`? Fails the run now rather than at the end. After the drop
/// the real ids are the user's; before it (`probe`), the check briefly takes the user's effective ids.
public func requireWritableDirectory(of path: String, what: String, user: UnprivilegedUser, probe: Bool = false) throws {
    let dir = path.lastIndex(of: "/").map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
    var writable: Bool
    if probe {
        guard setegid(user.gid) == 0 else { return }  // cannot tell now: the check after the drop decides
        if seteuid(user.uid) == 0 {
            writable = faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0
            guard seteuid(0) == 0 else { throw RunFailure("could not return to root after checking \(dir) as '\(user.name)'") }
        } else {
            writable = true
        }
        guard setegid(0) == 0 else { throw RunFailure("could not return to root's group after checking \(dir) as '\(user.name)'") }
    } else {
        writable = access(dir, W_OK | X_OK) == 0
    }
    if !writable {
        throw RunFailure("\(what) would be created in \(dir), which '\(user.name)' cannot write after the privilege drop: "
                         + "use a directory that user can write, --user with an account that can, or --no-drop")
    }
}

public func userName(_ uid: uid_t) -> String {
    var pw = passwd()
    var result: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 16_384)
    if getpwuid_r(uid, &pw, &buffer, buffer.count, &result) == 0, result != nil, let n = pw.pw_name {
        return String(cString: n)
    }
    return "uid \(uid)"
}

public func monotonicNow() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

public func realtimeNow() -> Timestamp {
    var t = timespec()
    clock_gettime(CLOCK_REALTIME, &t)
    return Timestamp(seconds: Int64(t.tv_sec), nanoseconds: UInt32(t.tv_nsec))
}

public func formatSeconds(_ d: Double) -> String {
    let tenths = Int((d * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) s"
}
