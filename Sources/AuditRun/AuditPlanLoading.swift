import AuditPolicy
import FirewallAudit
import Findings
import ReportRender

#if canImport(Glibc)
import Glibc
#endif

extension AuditRunner {
    /// Reads and parses the audit's policy file; an unreadable or invalid file is a `RunFailure`
    /// with one line saying why.
    public static func loadPlan(_ policyPath: String) throws -> AuditPolicy {
        guard let data = FileReader.readSmall(policyPath) else {
            throw RunFailure("cannot read the policy file \(policyPath): \(String(cString: strerror(errno)))")
        }
        do {
            return try AuditPolicy.parse(toml: String(decoding: data, as: UTF8.self), source: policyPath)
        } catch let e as PolicyError {
            throw RunFailure(e.message)
        } catch {
            throw RunFailure("\(policyPath): \(error)")
        }
    }

    /// Runs `body` (the audit) after checking that --output (`output`) and every `[audit.outputs]`
    /// file can be written; when it cannot be done (a `RunFailure`), the plan's Prometheus files
    /// still say so (`last_run_success 0`) before the failure is rethrown.
    public static func withOutputsChecked<T>(_ plan: AuditPolicy, output: String?, _ body: () throws -> T) throws -> T {
        do {
            // Every destination is checked before the ruleset, the probes and the capture window run.
            if let output { try requireWritableDestination(output, what: "--output") }
            for (f, path) in plan.outputs { try requireWritableDestination(path, what: "the [audit.outputs] \(f) file") }
            return try body()
        } catch let failure as RunFailure {
            for (f, path) in plan.outputs where f == "prometheus" {
                let empty = Report(toolVersion: DNSAuditVersion.current, generatedAt: nowRFC3339(),
                                   notes: ["the audit could not run: \(failure.message)"])
                try? writeOutput(PrometheusReportRenderer.render(empty, success: false), to: path)
            }
            throw failure
        }
    }
}
