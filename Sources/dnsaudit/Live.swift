import ArgumentParser
import AnalysisEngine
import AuditRun
import CaptureSource
import Findings
import Probes
import ResolverClients

#if canImport(Glibc)
import Glibc
#endif

struct Live: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Live capture with streaming detection; the report on Ctrl-C or after --duration.",
        discussion: """
        Needs root or CAP_NET_RAW. The capture, the --write file and the --output report are opened first; \
        then the process drops to --user (default: the '\(PrivilegeDrop.packageUser)' system user the package creates, else nobody; no capabilities) for the rest of the run, \
        like tcpdump -Z. The report is written atomically when that user can create files in its directory, \
        else in place into the file opened before the drop. --write rotations (FILE.1, FILE.2, ...) are created \
        after the drop and need a directory that user can write; otherwise give --user or --no-drop.

        With --format text or jsonl each finding is printed on standard output as soon as it is decided, and \
        the full report follows at the end (jsonl: the same 'finding' objects, then the summary line). Other \
        formats print only the final report. Ctrl-C (or SIGTERM) stops the capture and prints the report; \
        a second Ctrl-C quits at once without one.

        Default filter: \(LiveCapture.defaultFilter)
        """)

    @Option(name: [.short, .customLong("interface")], help: "Interface to capture on ('any' for all of them).")
    var interface: String
    @Option(name: .long, help: "BPF filter (libpcap syntax); replaces the default DNS/DoT/TLS/QUIC filter. '' captures everything.")
    var filter: String?
    @Option(name: .long, help: "Stop after this many seconds and print the report.")
    var duration: Double?
    @Option(name: .long, help: "Snap length: bytes kept of each packet.")
    var snaplen: Int32 = 262_144
    @Option(name: .customLong("buffer-size"), help: "Kernel capture buffer in MiB (raise it when the report shows drops).")
    var bufferSize: Int32 = 16
    @Option(name: .long, help: "Also save the raw capture to this pcap file (readable by 'dnsaudit analyze'); opened before privileges are dropped.")
    var write: String?
    @Option(name: .customLong("write-max-mb"), help: "With --write: start a new file (FILE.1, FILE.2, ...) when one reaches this many MB (10^6 bytes).")
    var writeMaxMB: Int?
    @Option(name: .long, help: "Drop to this user once the capture is open ('root' keeps privileges). Default: '\(PrivilegeDrop.packageUser)' when that account exists (the Debian package creates it), else 'nobody'.")
    var user: String?
    @Flag(name: .customLong("no-drop"), help: "Keep root privileges for the whole run.")
    var noDrop = false
    @Flag(name: .long, help: "libpcap immediate mode: each packet at once instead of within 100 ms. Its ring has one slot per snap length: use a small --snaplen (e.g. 2048) or expect drops under load.")
    var immediate = false
    @Option(name: .long, help: "Analysis worker threads: the capture loop shares frames out by flow (1: one thread; the report is the same for any number). With --reference: 1.")
    var threads = 1
    @OptionGroup var report: ReportOptions
    @OptionGroup var refs: ReferenceArguments

    func validate() throws {
        if interface.isEmpty { throw ValidationError("-i needs an interface name (or 'any')") }
        if let d = duration, !(d > 0) { throw ValidationError("--duration must be a positive number of seconds") }
        if !(64...262_144).contains(snaplen) { throw ValidationError("--snaplen must be between 64 and 262144") }
        if !(1...2047).contains(bufferSize) { throw ValidationError("--buffer-size is in MiB: between 1 and 2047") }
        if let m = writeMaxMB {
            if write == nil { throw ValidationError("--write-max-mb needs --write FILE") }
            if m < 1 { throw ValidationError("--write-max-mb must be at least 1") }
        }
        if let w = write, w.isEmpty { throw ValidationError("--write needs a file name") }
        if !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() throws {
        try report.validateFormat()
        var analysis = AnalysisOptions()
        analysis.trust = try refs.trustSettings()
        analysis.streamFindings = true
        let references = try refs.reference.isEmpty ? nil
            : BackgroundReferences(references: ReferenceOptions(urls: refs.reference, caFile: refs.caFile, timeoutSeconds: 3).referenceSet())
        analysis.collectAnswers = references != nil
        defer { if let references { try? runBlocking { await references.close() } } }

        // Whom to become once the capture is open.
        var dropTo: UnprivilegedUser?
        let user = self.user ?? PrivilegeDrop.defaultUser()
        if !noDrop && user != "root" && geteuid() == 0 {
            guard let u = UnprivilegedUser.lookup(user) else {
                throw RunFailure("no user '\(user)' to drop privileges to: give --user with an existing account, or --no-drop")
            }
            dropTo = u
        }

        var capture = LiveCaptureOptions(interface: interface)
        capture.filter = filter
        capture.snapLength = snaplen
        capture.bufferBytes = bufferSize << 20
        capture.immediate = immediate
        var settings = LiveSettings(
            capture: capture, analysis: analysis, dropTo: dropTo, write: write,
            writeMaxBytes: writeMaxMB.map { Int64($0) * 1_000_000 }, duration: duration,
            stream: report.format == .text ? .text : (report.format == .jsonl ? .jsonl : nil),
            outputPath: report.output, quiet: report.quiet, references: references)
        settings.threads = threads

        let (rep, _, _) = try LiveSession.runWithSignals(settings)
        try emit(rep, report)
        throw ExitCode(rep.exitStatus(failOn: report.failOn, failOnInconclusive: report.failOnInconclusive))
    }
}


/// The account the capture drops to by default: the package's dedicated system user (created by
/// its postinst, like Debian's tcpdump user) when it exists, else `nobody`.
enum PrivilegeDrop {
    static let packageUser = "dnsaudit"

    static func defaultUser() -> String {
        UnprivilegedUser.lookup(packageUser) != nil ? packageUser : "nobody"
    }
}
