import DNSAnalysis
import DNSObservations
import Findings
import FlowReassembly
import NetTypes
import TLSAnalysis

/// What a run reads out of the analysis once every frame is in: the one core of a single-threaded
/// run (`CaptureAnalyzer`), or the merge of flow-sharded workers' cores (`MergedAnalysis`). The
/// report is built from these alone, so it is the same whichever produced them.
public protocol AnalysisOutcome: AnyObject {
    var inputs: [InputResult] { get }
    func finish() -> [Finding]
    func summary() -> ReportSummary
    func notes() -> [String]
    func inconclusiveReasons() -> [String]
    func inputName(_ i: Int) -> String?
    var answeringResolvers: [IPAddress] { get }
    var dnsPaths: DNSPathTally { get }
    var capturedAnswers: CapturedAnswers { get }
}

extension CaptureAnalyzer: AnalysisOutcome {}

extension CaptureAnalyzer {
    /// Makes this core a flow-sharded worker's: tables whose first entries a single core keeps
    /// (by first appearance across flows) keep more, so that the merge can keep the same ones.
    public func prepareAsShardWorker() { dns.keepsMoreForMerging() }

    /// Ends an input on a flow-sharded worker with the facts the reader recorded for the whole
    /// input (every worker sees only its share of the frames): its inputs, and the time at which
    /// open TCP connections are finished, are then the same as a single core's.
    public func endInput(shared result: InputResult) {
        if let last = result.last { lastTS = last }
        feedingEnded()
        endInput(result)
    }
}

/// The cores of flow-sharded workers (each fed the frames of its flows; every input begun and
/// ended on every core) read as one analysis. Counters are summed, sets united, findings
/// collected in the order a single core gives them (DNS, then TLS), the DNS side's per-resolver
/// baselines (usual IP TTL, median RTT) merged before findings are written.
public final class MergedAnalysis: AnalysisOutcome {
    public let cores: [CaptureAnalyzer]

    public init(cores: [CaptureAnalyzer]) {
        precondition(!cores.isEmpty)
        self.cores = cores
    }

    public var inputs: [InputResult] { cores[0].inputs }

    public func inputName(_ i: Int) -> String? { cores[0].inputName(i) }

    public func finish() -> [Finding] {
        let ends = inputs.map(\.last)
        let captureEnd: (Int) -> Timestamp? = { i in i >= 0 && i < ends.count ? ends[i] : nil }
        var dnsFindings: [Finding] = []
        var tlsFindings: [Finding] = []
        DNSTransactionTracker.shareBaselines(cores.map(\.dns))
        for core in cores {
            dnsFindings += core.dns.finish()
            tlsFindings += core.tls.finish(captureEnd: captureEnd)
        }
        // Findings the report cannot tell apart by severity, kind and title keep the order one
        // core gives them, the order in which they were decided: by their latest evidence frame.
        let inputIndex = Dictionary(inputs.enumerated().map { ($0.element.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
        func decided(_ f: Finding) -> (Int, UInt64) {
            var best = (0, UInt64(0))
            for e in f.evidence {
                let i = e.input.flatMap { inputIndex[$0] } ?? 0
                for fr in e.frames where (i, fr) > best { best = (i, fr) }
            }
            return best
        }
        // Sorted as the report sorts (severity, kind, title), then by when they were decided: the
        // report's own (stable) sort then leaves them in this order.
        func ordered(_ list: [Finding]) -> [Finding] {
            list.map { ($0, decided($0)) }.sorted { a, b in
                let x = a.0, y = b.0
                if x.severity != y.severity { return x.severity > y.severity }
                if x.kind != y.kind { return x.kind.rawValue < y.kind.rawValue }
                if x.title != y.title { return x.title < y.title }
                return a.1 < b.1
            }.map(\.0)
        }
        var out = ordered(dnsFindings) + ordered(tlsFindings)
        for core in cores { out += core.doqFindings(captureEnd: captureEnd) }
        for core in cores { core.annotateTunnels(&out) }  // each core knows its own frames' tunnels
        return out
    }

    public func summary() -> ReportSummary { CaptureAnalyzer.summary(of: cores) }
    public func notes() -> [String] { CaptureAnalyzer.notes(of: cores) }
    public func inconclusiveReasons() -> [String] { CaptureAnalyzer.inconclusiveReasons(of: cores) }

    public var answeringResolvers: [IPAddress] {
        var all = Set<IPAddress>()
        for c in cores { all.formUnion(c.dns.answeringResolvers) }
        return all.sorted()
    }

    /// The union of the workers' tallies. A path's queries are all on one worker (workers are
    /// chosen by the client and server addresses); past `maxPaths`, the paths that appeared first
    /// (by input and frame) are kept and the others' queries counted as overflow, as one core does.
    public var dnsPaths: DNSPathTally {
        var paths: [DNSPathTally.Path: DNSPathTally.Count] = [:]
        var overflow = 0
        for c in cores {
            let t = c.dnsPaths
            overflow += t.overflowQueries
            paths.merge(t.paths) { a, b in
                var first = (a.input, a.firstFrame) <= (b.input, b.firstFrame) ? a : b
                first.queries = a.queries + b.queries
                return first
            }
        }
        if paths.count > DNSPathTally.maxPaths {
            let ordered = paths.sorted { ($0.value.input, $0.value.firstFrame) < ($1.value.input, $1.value.firstFrame) }
            for (k, v) in ordered[DNSPathTally.maxPaths...] {
                overflow += v.queries
                paths[k] = nil
            }
        }
        return DNSPathTally(paths: paths, overflowQueries: overflow)
    }

    /// Not merged: a run that collects answers for references runs on one core.
    public var capturedAnswers: CapturedAnswers { cores[0].capturedAnswers }
}

extension DNSTransactionTracker.Stats {
    mutating func add(_ o: Self) {
        queries += o.queries; responses += o.responses; transactions += o.transactions; unanswered += o.unanswered
        retransmittedQueries += o.retransmittedQueries; duplicateResponses += o.duplicateResponses
        conflictingResponses += o.conflictingResponses; unsolicitedResponses += o.unsolicitedResponses
        evictedTransactions += o.evictedTransactions; lateResponses += o.lateResponses
    }
}

extension IPFragmentReassembler.Stats {
    mutating func add(_ o: Self) {
        fragments += o.fragments; reassembled += o.reassembled; timedOut += o.timedOut; evicted += o.evicted
        tooLarge += o.tooLarge; overlapConflicts += o.overlapConflicts
    }
}

extension TCPReassembler.Stats {
    mutating func add(_ o: Self) {
        segments += o.segments; connections += o.connections; retransmittedSegments += o.retransmittedSegments
        outOfOrderSegments += o.outOfOrderSegments; gapBytes += o.gapBytes; droppedSegmentsOverLimit += o.droppedSegmentsOverLimit
        timedOut += o.timedOut; evicted += o.evicted
        peakConnections = max(peakConnections, o.peakConnections); peakBufferedBytes = max(peakBufferedBytes, o.peakBufferedBytes)
    }
}

extension TLSConnectionTracker.Stats {
    mutating func add(_ o: Self) {
        connections += o.connections; clientHellos += o.clientHellos; serverHellos += o.serverHellos
        completedHandshakes += o.completedHandshakes; resetsAfterClientHello += o.resetsAfterClientHello
        timeouts += o.timeouts; dotConnections += o.dotConnections; dohConnections += o.dohConnections
        certificatesJudged += o.certificatesJudged; untrustedCertificates += o.untrustedCertificates
    }
}
