import Foundation
import XCTest

/// The set-up and tear-down every root-only lab test case repeats, in one place: the lab the
/// current test made (so `tearDown` cleans it up whatever happened after it was made), the clock
/// started when it was made, and the tear-down itself — `finish` (namespaces and processes gone,
/// files removed on success, kept and named on failure) and one timing line
/// `<label> <test>: 1.23 s`.
///
/// A test case holds one (`private let session = LabSession<ProbeLab>(kept: "…")`), calls
/// `session.end(self)` from `tearDown`, and makes its lab through `session.begin { … }`.
/// (A helper object rather than a base class: XCTest on Linux finds test methods only in classes
/// that inherit XCTestCase within their own module.)
public final class LabSession<Lab: NamespaceLab> {
    /// The lab of the current test, once `begin` made it.
    public private(set) var lab: Lab?
    private var started = Date()
    private let label: String
    private let kept: String

    /// `label` names the lab in the timing line when no lab was made ("probe lab"); `kept` says
    /// what a failed test's kept directory holds ("configs, server logs, captures").
    public init(_ label: String, kept: String = "") {
        self.label = label
        self.kept = kept
    }

    /// Starts the clock and makes the lab with `make` (which may check tools first and skip). The
    /// lab is registered before it is returned: from then on `end` cleans it up, whatever happens.
    public func begin(_ make: () throws -> Lab) rethrows -> Lab {
        started = Date()
        let lab = try make()
        self.lab = lab
        return lab
    }

    /// Restarts the clock for a test that makes no lab (its timing line then covers the test).
    public func restartClock() { started = Date() }

    /// For `tearDown`: the lab finished (kept with a message naming its directory if the test
    /// failed), then the timing line.
    public func end(_ test: XCTestCase) {
        if let lab {
            lab.finish(after: test.testRun, keptMessage: "\(lab.label) \(test.name): files kept for inspection in \(lab.dir.path)"
                       + (kept.isEmpty ? "" : " (\(kept))"))
        }
        lab = nil
        print(String(format: "%@ %@: %.2f s", label, test.name, Date().timeIntervalSince(started)))
    }
}
