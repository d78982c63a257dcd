// dnsaudit-gen — writes demo and benchmark captures for dnsaudit.
//
//   dnsaudit-gen demo --out captures/
//   dnsaudit-gen mix --packets 5000000 --out /tmp/mix.pcap [--seed 1] [--pps 50000]

import ArgumentParser
import PacketSynth
import PcapWriter

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct DNSAuditGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnsaudit-gen",
        abstract: "Write synthetic packet captures (pcap, nanosecond timestamps) for dnsaudit demos, tests and benchmarks.",
        subcommands: [DemoCommand.self, MixCommand.self]
    )
}

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Write the small deterministic demo captures and their README.md.",
        discussion: """
        Files: dns-injection.pcap (an on-path DNS injector racing the resolver, and an unsolicited \
        response), dns-clean.pcap (normal traffic, nothing to find), dns-tcp-fragments.pcap (DNS over \
        TCP with segmentation, reordering and a retransmission; IPv4 and IPv6 fragments), README.md. \
        The output is byte-identical on every run.
        """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("Directory to write into (created if missing).", valueName: "dir"))
    var out: String = "captures"

    func run() throws {
        try makeDirectory(out)
        let results = try Demo.run(directory: out)
        for r in results {
            print("wrote \(r.file): \(r.packets) packets, \(r.bytes) bytes")
        }
        print("wrote \(out.hasSuffix("/") ? out : out + "/")README.md")
    }
}

struct MixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mix",
        abstract: "Write a realistic benchmark mix of N packets (streamed; bounded memory).",
        discussion: """
        About 35% DNS over UDP, 5% DNS over TCP, 25% TLS on 443 (Chrome-like ClientHello with SNI), \
        5% QUIC on UDP 443 (each connection's first client Initial real and decryptable, with a \
        ClientHello and SNI; later packets opaque), and HTTP, NTP, ARP and ICMP for the rest, over \
        IPv4 and IPv6, at ~50k packets per second of capture time. The same seed gives the same bytes.
        """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("Number of packets to write.", valueName: "n"))
    var packets: Int

    @Option(name: .shortAndLong, help: ArgumentHelp("Output file ('-' for standard output).", valueName: "file"))
    var out: String

    @Option(help: "Seed of the pseudo-random generator.")
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Packets per second of capture time.", valueName: "rate"))
    var pps: Int = 50_000

    @Option(help: ArgumentHelp("Also write the truth: one line per packet, its frame number and kind (dns-udp, dns-tcp, tls, quic, http, ntp, arp, icmp), tab-separated.", valueName: "file"))
    var truth: String?

    func validate() throws {
        guard packets > 0 else { throw ValidationError("--packets must be at least 1 (got \(packets))") }
        guard packets <= 1_000_000_000 else { throw ValidationError("--packets must be at most 1000000000") }
        guard pps > 0 else { throw ValidationError("--pps must be at least 1 (got \(pps))") }
        guard !out.isEmpty else { throw ValidationError("--out must not be empty") }
    }

    func run() throws {
        let clock = ContinuousClock()
        let started = clock.now
        let writer = out == "-" ? try PcapFileWriter.standardOutput() : try PcapFileWriter(path: out)
        let gen = MixGenerator(packets: packets, seed: seed, packetsPerSecond: pps)
        var truthText = ""
        if truth != nil { gen.onWrite = { frame, kind in truthText += "\(frame)\t\(kind.name)\n" } }
        let summary = try gen.run(writer: writer)
        if let truth {
            guard let f = fopen(truth, "w") else { throw GenError("cannot write \(truth): \(String(cString: strerror(errno)))") }
            let bytes = Array(truthText.utf8)
            let ok = fwrite(bytes, 1, bytes.count, f) == bytes.count
            guard fclose(f) == 0, ok else { throw GenError("cannot write \(truth)") }
        }
        try writer.close()
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let mix = summary.byKind.map { "\($0.0) \(percent($0.1, of: summary.packets))" }.joined(separator: ", ")
        let line = "wrote \(summary.packets) packets, \(summary.bytes) bytes to \(out) in \(format(seconds)) s (\(mix))\n"
        if out == "-" {
            writeStderr(line)
        } else {
            print(line, terminator: "")
        }
    }

    private func percent(_ n: Int, of total: Int) -> String {
        total == 0 ? "0%" : "\(format(Double(n) * 100 / Double(total)))%"
    }
}

func format(_ x: Double) -> String {
    let hundredths = Int((x * 100).rounded())
    let frac = hundredths % 100
    return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
}

/// Writes to standard error (the C `stderr` global is not concurrency-safe in Swift 6).
func writeStderr(_ text: String) {
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { raw in
        guard let base = raw.baseAddress else { return }
        _ = write(STDERR_FILENO, base, raw.count)
    }
}

func makeDirectory(_ path: String) throws {
    var st = stat()
    if stat(path, &st) == 0 {
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw GenError("\(path) exists and is not a directory") }
        return
    }
    // Create parents one by one (mkdir -p).
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part
        if stat(prefix, &st) != 0 && mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw GenError("cannot create directory \(prefix): \(String(cString: strerror(errno)))")
        }
        prefix += "/"
    }
}

// Argument errors and run-time failures: one line on stderr, exit code 2. Help: exit 0.
do {
    var command = try DNSAuditGen.parseAsRoot()
    try command.run()
} catch {
    let code = DNSAuditGen.exitCode(for: error)
    if code == .success {
        DNSAuditGen.exit(withError: error)
    }
    let message: String
    if let e = error as? GenError {
        message = e.description
    } else if error is PcapWriterError || error is FragmentationError {
        message = "\(error)"
    } else {
        message = DNSAuditGen.message(for: error)
    }
    let firstLine = message.split(separator: "\n").first.map(String.init) ?? "failed"
    writeStderr("dnsaudit-gen: \(firstLine)\n")
    exit(2)
}
