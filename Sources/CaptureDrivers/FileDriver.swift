import AnalysisEngine
import CaptureSource
import PacketDecode

#if canImport(Glibc)
import Glibc
#endif

/// What a progress display needs while a capture file is read.
public struct ProgressSnapshot: Sendable {
    public var input: String
    public var bytesRead: Int64?
    public var bytesTotal: Int64?
    public var packets: Int
    public var elapsedSeconds: Double
}

extension InputEnd {
    /// A file reader's end, as the core records it.
    init(_ end: ReadEnd) {
        switch end {
        case .endOfFile: self = .endOfFile
        case .readError(let e): self = .readError(e)
        case .stopped: self = .stopped
        }
    }
}

extension CaptureAnalyzer {
    /// One frame from libpcap, fed to the core. `number` overrides the frame's own number (a
    /// live capture numbers frames as they arrive; a file's reader numbers them in the file).
    @inline(__always)
    public func feed(_ f: CapturedFrame, number: UInt64) {
        feed(f.data, captureLength: f.captureLength, seconds: f.seconds, nanoseconds: f.nanoseconds, number: number)
    }

    /// Opens every input first, so that a bad path fails before any work is done.
    public static func open(paths: [String], filter: String?) throws -> [PcapFileReader] {
        var readers: [PcapFileReader] = []
        for p in paths { readers.append(try PcapFileReader(path: p, filter: filter)) }
        return readers
    }

    /// The capture-file driver: every frame of every reader, one input per file, in order.
    /// Returns when all inputs are consumed.
    public func run(_ readers: [PcapFileReader], progress: ((ProgressSnapshot) -> Void)? = nil) {
        for reader in readers {
            let name = reader.path == "-" ? "stdin" : reader.path
            beginInput(name: name, linkType: LinkType(dlt: reader.linkType))
            let started = monotonicSeconds()
            var nextProgress = 0
            let end = reader.forEachFrame { f in
                self.feed(f, number: f.number)
                if let progress, self.currentInputFacts.packets >= nextProgress {
                    let packets = self.currentInputFacts.packets
                    nextProgress = packets + 65_536
                    progress(ProgressSnapshot(input: name, bytesRead: reader.bytePosition, bytesTotal: reader.fileSize,
                                              packets: packets, elapsedSeconds: monotonicSeconds() - started))
                }
                return true
            }
            // Flows do not continue across files.
            endInput(end: InputEnd(end))
        }
    }
}

/// The live-interface driver: the same frame loop as a file's, over a `LiveCapture`.
public enum LiveDriver {
    /// Feeds every captured frame to `analyzer` as one input named `name` (frames numbered as they
    /// arrive), calling `afterFrame` after each and `idle` when no frame came for a tick (false
    /// from `idle` ends the capture). The caller ends the input with `endInput(end:)` once it has
    /// the capture's statistics.
    public static func run(_ cap: LiveCapture, into analyzer: CaptureAnalyzer, name: String,
                           afterFrame: () -> Void, idle: () -> Bool) -> LiveReadEnd {
        analyzer.beginInput(name: name, linkType: LinkType(dlt: cap.linkType))
        return cap.forEachFrame({ f in
            analyzer.feed(f, number: UInt64(analyzer.currentInputFacts.packets + 1))
            afterFrame()
            return true
        }, idle: idle)
    }
}

@inline(__always)
func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
