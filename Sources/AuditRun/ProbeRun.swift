import Findings
import Foundation
import NetTypes
import Probes
import ResolverClients
import SystemResolverReader
import TLSCertificates

/// What a probe run adds to a report: `probe` and `audit` share it.
public struct ProbeOutcome: Sendable {
    /// The configuration as run (resolvers and targets filled in).
    public var config: ProbeConfiguration
    public var findings: [Finding] = []
    public var notes: [String] = []
    public var inputs: [ReportInput] = []
    /// Why the probes could not examine what they were asked to (no usable reference…): goes to
    /// the report's `inconclusive`.
    public var inconclusive: [String] = []
}

/// Completes `config` — the resolvers under test (the system's when none are given), the targets,
/// GOPROXY's proxies — runs the probes, and judges the ladders (certificates, first broken layer).
/// A GOPROXY that does not parse fails the run, unless `ignoreBadGoproxy` (the scheduled audit).
public func runProbes(_ base: ProbeConfiguration, resolvers: [String], targets: [String], goproxy: Bool,
               ignoreBadGoproxy: Bool = false, trust: TrustSettings) throws -> ProbeOutcome {
    var out = ProbeOutcome(config: base)
    var resolverTexts = resolvers
    // This machine's resolvers, so that a target that is one of them gets the resolver checks.
    out.config.systemResolvers = SystemResolvers.toCheck().addresses
    if resolverTexts.isEmpty {
        let found = SystemResolvers.toCheck()
        out.notes += found.notes
        resolverTexts = found.addresses
        out.inputs.append(ReportInput(kind: "probe", name: "system resolvers", facts: [("resolv_conf", .string(found.addresses.joined(separator: " ")))]))
    }
    for r in resolverTexts { out.config.resolvers.append(try plainResolverEndpoint(r)) }
    for t in targets {
        do { out.config.targets.append(try ProbeTarget.parse(t)) } catch let e as ProbeTarget.ParseError { throw RunFailure(e.description) }
    }
    var goPlan: GoModulePlan?
    if goproxy {
        let go = goModuleSettings()
        do {
            let plan = try go.plan()
            out.config.targets += plan.targets
            out.notes.append("GOPROXY=\(go.goproxy)")
            out.notes.append("GOSUMDB=\(go.gosumdb)" + (go.gonosumdb.isEmpty ? "" : ", GONOSUMDB=\(go.gonosumdb)")
                             + (go.gonoproxy.isEmpty ? "" : ", GONOPROXY=\(go.gonoproxy)") + (go.goprivate.isEmpty ? "" : ", GOPRIVATE=\(go.goprivate)"))
            out.notes += plan.notes
            goPlan = plan
        } catch let e as ProbeTarget.ParseError {
            if !ignoreBadGoproxy { throw RunFailure("Go module settings: \(e.description)") }
        }
    }
    let runner = ProbeRunner(out.config)
    let results = try runBlocking { await runner.run() }
    let verdict = LadderVerdict.assess(results.ladders, judge: CertificateJudge(settings: trust))
    out.findings = LadderVerdict.rescue(results.findings, verified: verdict.verified) + verdict.findings
    out.notes += results.notes + verdict.notes
    out.inconclusive += results.inconclusive
    out.inputs += results.inputs
    if let goPlan { goModuleSummary(goPlan, ladderNotes: verdict.notes, into: &out) }
    for l in results.ladders {
        out.inputs.append(ReportInput(kind: "probe", name: "ladder \(l.target)",
                                      facts: l.steps.enumerated().map { i, step in
                                          ("step\(i + 1)", .string("\(step.layer) \(step.ok ? "ok" : "BROKEN"): \(step.detail)"))
                                      }))
    }
    return out
}

/// IP, IP:PORT, [V6]:PORT, udp://…, tcp://… → a plaintext endpoint.
public func plainResolverEndpoint(_ text: String) throws -> ResolverEndpoint {
    if text.contains("://") {
        do {
            let e = try ResolverEndpoint.parse(text)
            guard e.transport == .udp || e.transport == .tcp else {
                throw RunFailure("--resolver is a plaintext resolver (IP, IP:PORT, udp:// or tcp://); encrypted ones go in --reference")
            }
            return e
        } catch let e as ResolverEndpoint.ParseError {
            throw RunFailure("--resolver: \(e.description)")
        }
    }
    if IPAddress.isLiteral(text) { return ResolverEndpoint(transport: .udp, host: text, port: 53) }
    do {
        return try ResolverEndpoint.parse("udp://" + text)
    } catch {
        throw RunFailure("--resolver '\(text)': not an address (use IP, IP:PORT or [V6]:PORT)")
    }
}

/// GOPROXY from the environment, else `go env GOPROXY`, else Go's default.
public func goproxySetting() -> String {
    if let v = ProcessInfo.processInfo.environment["GOPROXY"], !v.isEmpty { return v }
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let go = "\(dir)/go"
        guard FileManager.default.isExecutableFile(atPath: go) else { continue }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: go)
        p.arguments = ["env", "GOPROXY"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        if (try? p.run()) != nil {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let v = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !v.isEmpty { return v }
        }
        break
    }
    return "https://proxy.golang.org,direct"
}

/// GOPROXY, GOSUMDB, GONOSUMDB, GONOPROXY, GOPRIVATE: the environment, else `go env` (one call),
/// else Go's defaults.
public func goModuleSettings() -> GoModuleSettings {
    let env = ProcessInfo.processInfo.environment
    var goEnv: [String: String] = [:]
    if GoModuleSettings.variables.contains(where: { (env[$0] ?? "").isEmpty }) {
        for dir in (env["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let go = "\(dir)/go"
            guard FileManager.default.isExecutableFile(atPath: go) else { continue }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: go)
            p.arguments = ["env"] + GoModuleSettings.variables
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            if (try? p.run()) != nil {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                if p.terminationStatus == 0 {
                    for (name, line) in zip(GoModuleSettings.variables, lines) { goEnv[name] = line }
                }
            }
            break
        }
    }
    return GoModuleSettings.resolve(environment: env, goEnv: goEnv)
}

/// Which of module proxy / checksum database / direct VCS a module fetch fails at first (issue 20
/// item 9), from the judged ladders: a target works when its ladder note says "reachable".
func goModuleSummary(_ plan: GoModulePlan, ladderNotes: [String], into out: inout ProbeOutcome) {
    func works(_ t: ProbeTarget) -> Bool {
        ladderNotes.contains { $0.hasPrefix("\(t.original): ") && $0.hasSuffix("— reachable") }
    }
    var facts: [(String, SubjectValue)] = [("module", .string(plan.module))]
    var counts: [GoModulePlan.Role: Int] = [:]
    for s in plan.steps {
        counts[s.role, default: 0] += 1
        let key = s.role == .proxy ? "proxy\(counts[s.role]!)" : (s.role == .direct ? "direct" : "checksum_database")
        facts.append((key, .string("\(s.target.original): \(works(s.target) ? "reachable" : "BROKEN")")))
    }
    let first = plan.firstFailure(works)
    facts.append(("fails_first", .string(first.map { "\($0.role.rawValue) \($0.target.original)" } ?? "none")))
    out.inputs.append(ReportInput(kind: "probe", name: "go modules", facts: facts))
    if let first {
        let consequence: String
        switch first.role {
        case .checksumDatabase:
            consequence = "modules download, but 'go mod tidy' / 'go get' cannot verify new go.sum lines"
                + " (GOSUMDB=off or GONOSUMDB skip the check, at the cost of the verification)"
        case .proxy: consequence = "the module proxy cannot be used; with ',' after it the go command does not fall back on a network error"
        case .direct: consequence = "the module's own host (direct VCS) cannot be reached"
        }
        out.notes.append("go modules (\(plan.module)): fails first at the \(first.role.rawValue) \(first.target.original) — \(consequence); see its ladder")
    } else if !plan.steps.isEmpty {
        out.notes.append("go modules (\(plan.module)): " + plan.steps.map { "\($0.role.rawValue) \($0.target.original)" }.joined(separator: ", ")
                         + " — what the go command needs is reachable")
    }
}
