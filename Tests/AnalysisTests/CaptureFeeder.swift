import AnalysisEngine
import Findings
import NetTypes
import PacketDecode

/// The whole capture analyzer fed raw-IP frames that a test built (PacketSynth): no trust store,
/// frame numbers from 1, the input's first/last times from the frames fed. The shared preamble of
/// the analyzer-level tests (DoH/DoQ blocking, poisoning).
final class CaptureFeeder {
    let analyzer: CaptureAnalyzer
    private(set) var frame: UInt64 = 0
    private(set) var first: Timestamp?
    private(set) var last = Timestamp(seconds: 0, nanoseconds: 0)

    init() {
        var o = AnalysisOptions()
        o.trust = nil
        analyzer = CaptureAnalyzer(options: o)
        analyzer.beginInput(name: "test")
    }

    /// One frame (an IP packet) at `ts`; numbered after the frames before it.
    func feed(_ packet: [UInt8], _ ts: Timestamp) {
        frame += 1
        if first == nil { first = ts }
        last = ts
        let n = frame
        packet.withUnsafeBytes { analyzer.processFrame($0, link: .raw, frame: n, ts: ts) }
    }

    /// Ends the input (first time `first`, else the first frame's; last time the last frame's)
    /// and returns every finding of the run.
    func finish(_ first: Timestamp? = nil) -> [Finding] {
        var r = InputResult(name: "test", linkType: .raw)
        r.first = first ?? self.first
        r.last = last
        r.packets = Int(frame)
        analyzer.endInput(r)
        return analyzer.finish()
    }
}
