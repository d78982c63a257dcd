// The capture-core benchmark: generates two mixes (dnsaudit-gen's mixed traffic and a DNS-heavy
// one), then measures in one run libpcap's own read rate, `dnsaudit analyze` (packets/s, MB/s,
// peak RSS, at each thread count), `dnsaudit decode` (lines/s, MB/s) and tshark on the same file.
// Other modes: --parts (per-operation costs), --compare (an A/B of two builds),
// --breakdown (where the time goes, by kind of traffic).
// Run it in release mode: scripts/bench.sh (figures go to standard output).
import ArgumentParser
import CaptureSource
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnsaudit-bench",
        abstract: "Measure analyze throughput and memory against libpcap and tshark on a generated mix.")

    @Option(help: "Packets in each generated mix (repeatable).") var packets: [Int] = [1_000_000, 5_000_000]
    @Option(help: ArgumentHelp("Mixes to generate (repeatable): 'mixed' (dnsaudit-gen mix: DNS, TLS, QUIC, HTTP, other) and 'dns-heavy' (70 % DNS/UDP, 5 % DNS/TCP, 15 % TLS, 10 % other, about 20 % IPv6; written by --dns-heavy-generator).", valueName: "mix"))
    var mix: [String] = ["mixed", "dns-heavy"]
    @Option(help: "The DNS-heavy mix's generator (Python 3, standard library only).")
    var dnsHeavyGenerator = "../shared/tools/gen_capture.py"
    @Option(help: ArgumentHelp("Thread counts for analyze and decode, comma-separated (default: 1 and the cores when this dnsaudit has --threads, else its default).", valueName: "n,n"))
    var threadsList: String?
    @Flag(help: "Skip decode.") var noDecode = false
    @Option(help: "Directory for the generated captures.") var workdir = "bench-out"
    @Flag(help: "Skip tshark (it takes a while on millions of packets).") var noTshark = false
    @Option(help: "Run tshark only on mixes up to this many packets.") var tsharkMax = 1_000_000
    @Flag(help: "Keep the generated captures.") var keep = false
    @Option(help: "Runs of each measurement; the median is printed (this machine is shared and noisy).")
    var runs = 3
    @Option(help: "Measure this existing capture instead of generating mixes (repeatable).")
    var capture: [String] = []
    @Flag(help: "Print the per-operation cost of the packet path's most expensive steps instead.")
    var parts = false
    @Option(help: ArgumentHelp("Instead: an A/B of analyze against another dnsaudit binary on each capture (its runs alternate with this build's; --runs rounds), after checking that both write the same report.", valueName: "dnsaudit-binary"))
    var compare: String?
    @Flag(help: "Instead: where analyze's time goes on each capture, by kind of traffic (the CPU time saved when a BPF filter drops that kind; --runs interleaved rounds).")
    var breakdown = false

    func validate() throws {
        if [parts, compare != nil, breakdown].filter({ $0 }).count > 1 {
            throw ValidationError("give at most one of --parts, --compare and --breakdown")
        }
        if let bad = mix.first(where: { !["mixed", "dns-heavy"].contains($0) }) {
            throw ValidationError("unknown --mix '\(bad)' (mixed, dns-heavy)")
        }
        if let t = threadsList, parsedThreads(t) == nil {
            throw ValidationError("--threads-list takes thread counts from 1 to 256, comma-separated (e.g. 1,2)")
        }
    }

    func run() throws {
        if parts { return Parts.run() }
        let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let gen = binDir.appendingPathComponent("dnsaudit-gen").path
        let dnsaudit = binDir.appendingPathComponent("dnsaudit").path
        try FileManager.default.createDirectory(atPath: workdir, withIntermediateDirectories: true)
        print("dnsaudit capture-core benchmark (\(ProcessInfo.processInfo.activeProcessorCount) cores)")
        let inputs: [(path: String, packets: Int?, mix: String)] = capture.isEmpty
            ? packets.flatMap { n in mix.map { ("\(workdir)/\($0 == "mixed" ? "mix" : $0)-\(n).pcap", n, $0) } }
            : capture.map { ($0, nil, "") }
        // Thread counts: asked for, or 1 and the cores when analyze has --threads.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let analyzeThreads = try helpMentions(dnsaudit, "analyze", "--threads")
        let decodeThreads = try helpMentions(dnsaudit, "decode", "--threads")
        let threads: [Int?] = threadsList.flatMap(parsedThreads).map { $0.map { Optional($0) } }
            ?? (analyzeThreads ? Array(Set([1, cores])).sorted().map { Optional($0) } : [nil])
        if threads.contains(where: { $0 != nil }) && !analyzeThreads {
            throw ValidationError("\(dnsaudit) analyze has no --threads option: leave out --threads-list")
        }
        for (path, n, kind) in inputs {
            if let n {
                if kind == "dns-heavy" {
                    guard FileManager.default.fileExists(atPath: dnsHeavyGenerator), let python = which("python3") else {
                        print("\n== DNS-heavy mix of \(n) packets: skipped (no python3 or no \(dnsHeavyGenerator); see --dns-heavy-generator)")
                        continue
                    }
                    let g = try spawn(python, [dnsHeavyGenerator, "--packets", String(n), "--out", path], quiet: true)
                    guard g.status == 0 else { throw ValidationError("\(dnsHeavyGenerator) failed (exit \(g.status))") }
                } else {
                    let g = try spawn(gen, ["mix", "--packets", String(n), "--out", path], quiet: true)
                    guard g.status == 0 else { throw ValidationError("dnsaudit-gen failed (exit \(g.status))") }
                }
            }
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            let mb = Double(size) / 1e6
            let title = n.map { kind == "dns-heavy" ? "DNS-heavy mix of \($0) packets" : "mixed traffic (dnsaudit-gen) of \($0) packets" } ?? path
            print("\n== \(title), \(String(format: "%.1f", mb)) MB")

            // Read the file once first, so every measurement below starts from the page cache.
            let warm = try PcapFileReader(path: path)
            warm.forEachFrame { _ in true }
            if let other = compare {
                try Compare.run(capture: path, this: dnsaudit, other: other, rounds: runs)
                if !keep && n != nil { try? FileManager.default.removeItem(atPath: path) }
                continue
            }
            if breakdown {
                try Breakdown.run(capture: path, analyzer: dnsaudit, rounds: runs)
                if !keep && n != nil { try? FileManager.default.removeItem(atPath: path) }
                continue
            }

            // libpcap alone: open, read every frame, touch one byte.
            var count = 0
            var pcapTimes: [Double] = []
            for _ in 0..<max(1, runs) {
                let t0 = now()
                let reader = try PcapFileReader(path: path)
                var c = 0
                var sink: UInt8 = 0
                reader.forEachFrame { f in
                    c += 1
                    if let b = f.data.first { sink &+= b }
                    return true
                }
                pcapTimes.append(now() - t0)
                count = c
                _ = sink
            }
            let pcapSeconds = median(pcapTimes)
            line("libpcap read loop", packets: count, seconds: pcapSeconds, mb: mb, rssKB: nil)

            // dnsaudit analyze, as a user runs it (separate process: its peak RSS is its own), at
            // each thread count.
            var analyzeSeconds: [Int?: Double] = [:]
            for t in threads {
                var runsOf: [SpawnResult] = []
                for _ in 0..<max(1, runs) {
                    runsOf.append(try runAnalyze(dnsaudit, path, threads: t))
                }
                let a = runsOf.sorted { $0.seconds < $1.seconds }[runsOf.count / 2]
                analyzeSeconds[t] = a.seconds
                line("dnsaudit analyze" + (t.map { " --threads \($0)" } ?? ""), packets: count, seconds: a.seconds, mb: mb,
                     rssKB: runsOf.map(\.maxRSSKB).max())
                print("  (\(runsOf.count) runs: \(runsOf.map { String(format: "%.3f s", $0.seconds) }.joined(separator: ", ")); "
                      + String(format: "CPU %.3f s user + %.3f s system in the median run)", a.userSeconds, a.systemSeconds))
                print(String(format: "  analyze / libpcap time ratio: %.2fx", a.seconds / max(pcapSeconds, 1e-9))
                      + (t != nil && t != threads.first! ? String(format: "; throughput %.2fx of %@", (analyzeSeconds[threads.first!] ?? 0) / a.seconds,
                                                                  threads.first!.map { "\($0) thread(s)" } ?? "the default") : ""))
            }

            // dnsaudit decode: timed with its lines discarded; one more run counts them.
            if !noDecode {
                for t in decodeThreads ? threads : [nil] {
                    let args = ["decode"] + (t.map { ["--threads", String($0)] } ?? []) + [path]
                    var times: [Double] = []
                    for _ in 0..<max(1, runs) {
                        let r = try spawn(dnsaudit, args, quiet: true)
                        guard r.status == 0 || r.status == 1 else { throw ValidationError("\(dnsaudit) decode failed (exit \(r.status))") }
                        times.append(r.seconds)
                    }
                    let (_, lines, bytes) = try spawnCounting(dnsaudit, args)
                    let secs = median(times)
                    let vs = analyzeSeconds[t] ?? analyzeSeconds[threads.first!]
                    print("  " + "dnsaudit decode\(t.map { " --threads \($0)" } ?? "")".padding(toLength: 30, withPad: " ", startingAt: 0)
                          + String(format: " %7.3f s  %6.3f M lines/s  %8.1f MB/s out (%d lines, %.1f MB)", secs, Double(lines) / secs / 1e6,
                                   Double(bytes) / secs / 1e6, lines, Double(bytes) / 1e6)
                          + (vs.map { String(format: "; %.2fx analyze's time", secs / $0) } ?? ""))
                }
            }

            if !noTshark && count > tsharkMax {
                print("  tshark: skipped above --tshark-max \(tsharkMax) packets")
            } else if !noTshark, let tshark = which("tshark") {
                // Four DNS fields, as a pipeline feeding a SIEM would ask for.
                let (t, lines, bytes) = try spawnCounting(tshark, ["-n", "-r", path, "-Y", "dns", "-T", "fields", "-e", "dns.id",
                                                                   "-e", "dns.flags.response", "-e", "dns.qry.name", "-e", "dns.qry.type"])
                line("tshark -T fields (4 DNS)", packets: count, seconds: t.seconds, mb: mb, rssKB: t.maxRSSKB)
                print(String(format: "  tshark: %.3f M lines/s, %.1f MB/s out (%d lines)", Double(lines) / t.seconds / 1e6,
                             Double(bytes) / t.seconds / 1e6, lines))
            } else if !noTshark {
                print("  tshark: not installed, skipped")
            }
            if !keep && n != nil { try? FileManager.default.removeItem(atPath: path) }
        }
    }

    func line(_ what: String, packets: Int, seconds: Double, mb: Double, rssKB: Int?) {
        var s = "  \(what.padding(toLength: 30, withPad: " ", startingAt: 0)) "
        s += String(format: "%7.3f s  %6.2f M packets/s  %8.1f MB/s", seconds, Double(packets) / seconds / 1e6, mb / seconds)
        if let r = rssKB { s += String(format: "  peak RSS %6.1f MB", Double(r) / 1024) }
        print(s)
    }
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func which(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let p = "\(dir)/\(name)"
        if access(p, X_OK) == 0 { return p }
    }
    return nil
}

struct SpawnResult {
    var status: Int32
    var seconds: Double
    var maxRSSKB: Int
    var userSeconds: Double = 0
    var systemSeconds: Double = 0
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s[s.count / 2]
}

/// One `dnsaudit analyze --format json` run of `path` (with a BPF filter when given), its report
/// written to `output`; exit 0 or 1 (findings) is success, anything else an error.
func runAnalyze(_ dnsaudit: String, _ path: String, output: String = "/dev/null", filter: String? = nil,
                threads: Int? = nil) throws -> SpawnResult {
    let r = try spawn(dnsaudit, ["analyze", "--quiet", "--format", "json", "--output", output]
                          + (filter.map { ["--filter", $0] } ?? []) + (threads.map { ["--threads", String($0)] } ?? []) + [path],
                      quiet: true)
    guard r.status == 0 || r.status == 1 else { throw ValidationError("\(dnsaudit) analyze failed (exit \(r.status))") }
    return r
}

/// Waits for a spawned child: its exit status (128 + signal when killed), wall time since
/// `startedAt`, peak RSS and CPU times.
func waitForChild(_ pid: pid_t, startedAt t0: Double) -> SpawnResult {
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let seconds = now() - t0
    let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return SpawnResult(status: exitStatus, seconds: seconds, maxRSSKB: Int(usage.ru_maxrss),
                       userSeconds: Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
                       systemSeconds: Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)
}

/// Runs a program with output discarded and returns its exit status, wall time and peak RSS.
func spawn(_ path: String, _ args: [String], quiet: Bool) throws -> SpawnResult {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if quiet { posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0) }
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    let t0 = now()
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    guard rc == 0 else { throw ValidationError("cannot run \(path): \(String(cString: strerror(rc)))") }
    return waitForChild(pid, startedAt: t0)
}

/// "1,2" → [1, 2]; nil when any part is not a thread count (1…256).
func parsedThreads(_ s: String) -> [Int]? {
    let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !parts.isEmpty, parts.allSatisfy({ $0 != nil && (1...256).contains($0!) }) else { return nil }
    return parts.map { $0! }
}

/// Whether `dnsaudit SUBCOMMAND --help` mentions `option` (an option a build may not have yet).
func helpMentions(_ dnsaudit: String, _ subcommand: String, _ option: String) throws -> Bool {
    let out = try captureOutput(dnsaudit, [subcommand, "--help"])
    return out.contains(option)
}

/// A program's standard output (small outputs only).
func captureOutput(_ path: String, _ args: [String]) throws -> String {
    var data: [UInt8] = []
    _ = try spawnReading(path, args) { data.append(contentsOf: $0) }
    return String(decoding: data, as: UTF8.self)
}

/// Runs a program with its standard output read through a pipe: its lines and bytes are counted
/// (as a consumer reading them would), with its wall time and peak RSS.
func spawnCounting(_ path: String, _ args: [String]) throws -> (SpawnResult, lines: Int, bytes: Int) {
    var lines = 0, bytes = 0
    let r = try spawnReading(path, args) { chunk in
        bytes += chunk.count
        for b in chunk where b == 10 { lines += 1 }
    }
    return (r, lines, bytes)
}

func spawnReading(_ path: String, _ args: [String], _ consume: (UnsafeRawBufferPointer) -> Void) throws -> SpawnResult {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw ValidationError("pipe: \(String(cString: strerror(errno)))") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    let t0 = now()
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    close(fds[1])
    defer { close(fds[0]) }
    guard rc == 0 else { throw ValidationError("cannot run \(path): \(String(cString: strerror(rc)))") }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    while true {
        let n = read(fds[0], buffer.baseAddress, buffer.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        consume(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
    }
    return waitForChild(pid, startedAt: t0)
}
