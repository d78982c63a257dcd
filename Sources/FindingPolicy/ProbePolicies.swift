import Findings

/// A probe target that could not be reached, with the first broken layer.
public struct UnreachableEvidence: Sendable {
    public enum Layer: String, Sendable { case dns, tcp, tls, http }
    /// How that layer failed.
    public enum Failure: Sendable, Equatable {
        /// No route to the address (ENETUNREACH / EHOSTUNREACH).
        case noRoute
        /// The host refused the port (a TCP reset to the SYN).
        case refused
        /// Nothing answered in time.
        case timeout
        /// Anything else (a closed connection, an HTTP error status, a bad answer), with its text.
        case other(String)
    }

    /// The target's name (or address) and the address and port tried.
    public var target: String
    public var server: String
    public var port: Int
    public var layer: Layer
    public var failure: Failure
    /// What the rung said, for the title.
    public var detail: String
    /// Whether an address the references gave for the same name was tried, and worked: nil when
    /// no reference address existed (then nothing may be said about one).
    public var referenceAddressWorks: Bool?

    public init(target: String, server: String, port: Int, layer: Layer, failure: Failure, detail: String,
                referenceAddressWorks: Bool?) {
        self.target = target
        self.server = server
        self.port = port
        self.layer = layer
        self.failure = failure
        self.detail = detail
        self.referenceAddressWorks = referenceAddressWorks
    }
}

extension FindingPolicy {
    /// `probe.unreachable`: a reachability diagnosis naming the first broken layer. Never medium
    /// on its own — interference needs evidence (a forged answer, an injected reset, a drop only
    /// for some names, only on the plain path, only through this network), and those are other kinds.
    ///
    /// - no route to the address: info / likely (e.g. an internal host probed from outside);
    /// - the host refuses the port: low / likely (it does not offer that service);
    /// - a timeout: low / possible, or medium / possible when the references' address for the same
    ///   name works (the drop is specific to what this network resolves or routes);
    /// - any other failure (closed, HTTP error): low / possible.
    public static func probeUnreachable(_ e: UnreachableEvidence, evidence: [Evidence]) -> Finding {
        let severity: Severity
        let confidence: Confidence
        var why: String
        switch e.failure {
        case .noRoute:
            (severity, confidence) = (.info, .likely)
            why = "there is no route to \(e.server) from here"
        case .refused:
            (severity, confidence) = (.low, .likely)
            why = "\(e.server) refuses port \(e.port): it does not offer the service there"
        case .timeout:
            (severity, confidence) = e.referenceAddressWorks == true ? (.medium, .possible) : (.low, .possible)
            why = "nothing answered at \(e.server):\(e.port)"
        case .other(let text):
            (severity, confidence) = (.low, .possible)
            why = text
        }
        switch e.referenceAddressWorks {
        case true?: why += "; the references' address for \(e.target) works"
        case false?: why += "; the references' address fails as well"
        case nil: break
        }
        let reason: String
        switch e.failure {
        case .noRoute: reason = "no-route"
        case .refused: reason = "refused"
        case .timeout: reason = "timeout"
        case .other: reason = e.layer.rawValue
        }
        return Finding(
            kind: FindingKind.probeUnreachable, severity: severity, confidence: confidence,
            title: "\(e.target) is unreachable: the \(e.layer.rawValue.uppercased()) layer is the first broken one (\(e.detail))",
            subject: [("sni", .string(e.target)), ("server", .string(e.server)), ("port", .int(e.port)),
                      ("transport", .string("tcp")), ("reason", .string(reason))],
            evidence: evidence + [Evidence(source: evidence.first?.source ?? .probe, detail: "diagnosis: \(why)")],
            remediation: severity >= .medium
                ? "The name's address from the references works while the one this network gives is silent: compare with another network, and check the resolver and the firewall."
                : "A reachability problem, not evidence of tampering: check that \(e.target) offers port \(e.port) and is reachable from this network.")
    }
}
