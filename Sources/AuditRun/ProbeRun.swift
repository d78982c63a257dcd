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
    if goproxy {
        let value = goproxySetting()
        do {
            out.config.targets += try ProbeTarget.goproxyTargets(value)
            out.notes.append("GOPROXY=\(value)")
        } catch let e as ProbeTarget.ParseError {
            if !ignoreBadGoproxy { throw RunFailure("GOPROXY: \(e.description)") }
        }
    }
    let runner = ProbeRunner(out.config)
    let results = try runBlocking { await runner.run() }
    let verdict = LadderVerdict.assess(results.ladders, judge: CertificateJudge(settings: trust))
    out.findings = LadderVerdict.rescue(results.findings, verified: verdict.verified) + verdict.findings
    out.notes += results.notes + verdict.notes
    out.inconclusive += results.inconclusive
    out.inputs += results.inputs
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
