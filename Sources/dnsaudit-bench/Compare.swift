// `dnsaudit-bench --compare OTHER`: an A/B of two dnsaudit builds on the same capture.
//
// On a shared machine two batches of runs taken minutes apart differ by more than most single
// optimisations gain, so the runs of the two builds alternate (A, B, A, B, …) and each side's
// median and lower quartile of CPU time are printed. The two JSON reports are compared first
// (without their generation time): a change meant to be faster must not change what is reported.
import ArgumentParser
import Foundation

enum Compare {
    static func run(capture path: String, this: String, other: String, rounds: Int) throws {
        print("\n== A/B on \(path): A = \(other), B = \(this)")
        let a = try report(other, path)
        let b = try report(this, path)
        print(a == b ? "  reports: identical (generated_at aside)" : "  reports: DIFFERENT — check before trusting any speed-up")
        var cpuA: [Double] = [], cpuB: [Double] = []
        for _ in 0..<max(1, rounds) {
            cpuA.append(try cpu(other, path))
            cpuB.append(try cpu(this, path))
        }
        line("A", cpuA)
        line("B", cpuB)
        print(String(format: "  B / A: %.3f (median), %.3f (lower quartile)", median(cpuB) / median(cpuA),
                     quartile(cpuB) / quartile(cpuA)))
    }

    static func line(_ name: String, _ xs: [Double]) {
        print(String(format: "  %@  CPU median %7.1f ms  lower quartile %7.1f ms  min %7.1f ms  (%d runs)",
                     name, median(xs) * 1e3, quartile(xs) * 1e3, (xs.min() ?? 0) * 1e3, xs.count))
    }

    static func quartile(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? 0 : s[s.count / 4]
    }

    /// CPU seconds (user + system) of one `analyze` run.
    static func cpu(_ dnsaudit: String, _ path: String) throws -> Double {
        let r = try runAnalyze(dnsaudit, path)
        return r.userSeconds + r.systemSeconds
    }

    /// The JSON report without its generation time, normalised for comparison.
    static func report(_ dnsaudit: String, _ path: String) throws -> Data {
        let out = FileManager.default.temporaryDirectory
            .appendingPathComponent("dnsaudit-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        _ = try runAnalyze(dnsaudit, path, output: out)
        let data = try Data(contentsOf: URL(fileURLWithPath: out))
        guard var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ValidationError("\(dnsaudit) wrote a report that is not a JSON object")
        }
        object.removeValue(forKey: "generated_at")
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}
