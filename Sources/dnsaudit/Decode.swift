import AnalysisEngine
import CaptureDrivers
import ArgumentParser
import AuditRun
import CaptureSource
import ReportRender

#if canImport(Glibc)
import Glibc
#endif

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one JSON line per DNS message and TLS hello, in capture order.",
        discussion: "'frame' is the 1-based packet number in each file, as tshark counts it.")

    @Argument(help: "Capture files (pcap or pcapng); '-' for standard input.")
    var files: [String]
    @Option(name: .long, help: "BPF filter applied while reading (libpcap syntax).")
    var filter: String?
    @Option(name: .long, help: "Write the lines to this file instead of standard output.")
    var output: String?
    @Option(name: .customLong("dns-port"), help: "Decode UDP and TCP on this port as DNS, like tshark's decode-as (repeatable).")
    var dnsPorts: [UInt16] = []
    @Option(name: .customLong("tls-port"), help: "Follow TCP on this port as TLS and UDP as QUIC (repeatable).")
    var tlsPorts: [UInt16] = []
    @Flag(name: [.short, .long], help: "No progress display on standard error (decode shows none; warnings about damaged input are still printed).")
    var quiet = false
    @Option(name: .long, help: "Line format: jsonl (the contract's decode lines) or eve (Suricata EVE JSON: dns v3, tls, quic records).")
    var format: DecodeFormat = .jsonl
    @Option(name: .long, help: "Decoding worker threads: frames are shared out by flow, lines rendered on the workers and written in capture order (1: one thread; the lines are the same for any number).")
    var threads = 1

    enum DecodeFormat: String, CaseIterable, ExpressibleByArgument {
        case jsonl, eve
    }

    func validate() throws {
        if !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() throws {
        if let output { try requireWritableDestination(output, what: "--output") }
        let readers: [PcapFileReader]
        do {
            readers = try CaptureAnalyzer.open(paths: files, filter: filter)
        } catch let e as CaptureError {
            throw RunFailure(e.message)
        }
        let out = try output.map { try OutputSink(path: $0) } ?? OutputSink.standardOutput()
        var options = AnalysisOptions()
        options.filter = filter
        options.wantDecode = true
        options.trust = nil  // decode lines carry no judgements
        options.dnsPorts = Set(dnsPorts)
        options.tlsPorts = Set(tlsPorts)
        let multi = readers.count > 1
        let eve = format == .eve
        if threads > 1 {
            let o = options
            // Each worker renders its own lines; the driver's writer puts them in capture order.
            let lineOutput = LineOutput(setUp: { core, sink in
                var line = JSONWriter(reserving: 1 << 12)
                core.onDecode = { event in
                    if eve {
                        var text = EVERenderer.line(event, inputName: core.currentInputName)
                        text += "\n"
                        text.withUTF8 { sink.append(UnsafeRawBufferPointer($0)) }
                        return
                    }
                    DecodeLineRenderer.append(event, inputName: multi ? core.currentInputName : nil, to: &line)
                    line.bytes.withUnsafeBytes { sink.append($0) }
                    line.removeAll()
                }
            }, write: { out.write(bytes: $0) })
            let merged: MergedAnalysis
            do {
                merged = try ShardedDriver.run(readers, threads: threads, makeCore: { CaptureAnalyzer(options: o) }, lines: lineOutput)
            } catch let e as ShardingError {
                throw RunFailure(e.description)
            }
            try out.finish()
            warnEarlyEnds(merged.inputs)
            return
        }
        let analyzer = CaptureAnalyzer(options: options)
        // jsonl lines go into one reused byte buffer, written with one write(2) per 256 KB.
        let batch = 1 << 18
        var lines = JSONWriter(reserving: batch + (1 << 16))
        analyzer.onDecode = { event in
            if eve {
                out.write(EVERenderer.line(event, inputName: analyzer.currentInputName) + "\n")
                return
            }
            DecodeLineRenderer.append(event, inputName: multi ? analyzer.currentInputName : nil, to: &lines)
            if lines.bytes.count >= batch {
                out.write(bytes: lines.bytes)
                lines.removeAll()
            }
        }
        analyzer.run(readers)
        out.write(bytes: lines.bytes)
        // A short file is never left behind silently (a full disk, a closed pipe).
        try out.finish()
        warnEarlyEnds(analyzer.inputs)
    }

    private func warnEarlyEnds(_ inputs: [InputResult]) {
        for i in inputs {
            if case .readError(let e) = i.end {
                printError("warning: \(i.name) ends early (\(e)); decoded the \(i.packets) packets read")
            }
        }
    }
}
