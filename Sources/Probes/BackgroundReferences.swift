import DNSObservations
import Dispatch
import Findings
import NIOConcurrencyHelpers
import ResolverClients

/// Asks the references about a live capture's answers while it runs: the capture thread hands
/// over new (qname, qtype) answers once a second, at most `perSecond` of them; comparisons run on
/// the concurrency pool and their findings are collected for the next tick and the final report.
public final class BackgroundReferences: Sendable {
    public let references: ReferenceSet
    let comparison: ReferenceComparison
    let perSecond: Int
    private struct State {
        var findings: [Finding] = []
        var drained = 0
        var compared = 0, consistent = 0, disagreed = 0, unanswered = 0
        var notes: [String] = []
    }
    private let state = NIOLockedValueBox(State())
    private let group = DispatchGroup()
    /// Capture side only (one thread): how far into the answers' order we have handed over.
    private let cursor = NIOLockedValueBox(0)

    public init(references: ReferenceSet, perSecond: Int = 50, maxLookups: Int = 2000) {
        self.references = references
        self.perSecond = max(1, perSecond)
        comparison = ReferenceComparison(maxLookups: maxLookups)
    }

    /// Hands over up to `perSecond` answers not asked about yet. Returns how many are still waiting.
    @discardableResult
    public func submitNew(from answers: CapturedAnswers, inputName: String) -> Int {
        let start = cursor.withLockedValue { $0 }
        let order = answers.order
        guard start < order.count else { return 0 }
        let end = min(order.count, start + perSecond)
        let batch = order[start..<end].compactMap { answers.answers[$0] }
        cursor.withLockedValue { $0 = end }
        submit(batch, inputName: inputName)
        return order.count - end
    }

    /// Everything not handed over yet (at the end of a capture).
    public func submitRest(from answers: CapturedAnswers, inputName: String) {
        while submitNew(from: answers, inputName: inputName) > 0 {}
    }

    func submit(_ batch: [CapturedAnswer], inputName: String) {
        guard !batch.isEmpty else { return }
        group.enter()
        let comparison = self.comparison, references = self.references, state = self.state, group = self.group
        Task {
            let o = await comparison.run(batch, references: references, inputName: { _ in inputName })
            state.withLockedValue { s in
                s.findings += o.findings
                s.compared += o.compared
                s.consistent += o.consistent
                s.disagreed += o.referencesDisagreed
                s.unanswered += o.unanswered
                for n in o.notes where n.hasPrefix("reference ") && !s.notes.contains(n) && s.notes.count < 8 { s.notes.append(n) }
            }
            group.leave()
        }
    }

    /// Findings decided since the last call.
    public func drainNew() -> [Finding] {
        state.withLockedValue { s in
            let new = Array(s.findings[s.drained...])
            s.drained = s.findings.count
            return new
        }
    }

    /// Shuts the references' clients down (after `finish`).
    public func close() async {
        await references.close()
    }

    /// Waits (at most `timeoutSeconds`) for the comparisons in flight; returns every finding and the notes.
    public func finish(timeoutSeconds: Double) -> (findings: [Finding], notes: [String]) {
        let waited = group.wait(timeout: .now() + timeoutSeconds)
        return state.withLockedValue { s in
            var notes = s.notes
            notes.append("References were asked while capturing: \(s.compared) name(s) compared, \(s.consistent) consistent, "
                + "\(s.findings.count) inconsistent, \(s.disagreed) where the references disagree (not judged), \(s.unanswered) no reference could answer"
                + (waited == .timedOut ? "; some comparisons were still running when the report was made" : ""))
            return (s.findings, notes)
        }
    }
}
