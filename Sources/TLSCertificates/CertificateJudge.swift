import Crypto
import Dispatch
import Foundation
import SwiftASN1
import TLSWire
@_spi(FixedExpiryValidationTime) @_spi(DisableValidityCheck) import X509

/// Why a server certificate should not be trusted.
public enum CertificateProblem: String, Sendable, CaseIterable, Comparable {
    /// The certificate is its own issuer and is not a trusted root.
    case selfSigned = "self-signed"
    /// The chain does not lead to a trusted root.
    case unknownIssuer = "unknown-issuer"
    /// Neither the SANs nor (without SANs) the CN cover the server name the client asked for
    /// (for an address: no iPAddress SAN holds it).
    case nameMismatch = "name-mismatch"
    /// A certificate of the chain had expired at the time of the capture.
    case expired
    /// A certificate of the chain was not yet valid at the time of the capture.
    case notYetValid = "not-yet-valid"

    var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

/// The judgement of one server certificate chain for one server name at one time.
public struct CertificateVerdict: Sendable {
    public init(serverName: String? = nil, chain: [CertificateFacts] = [], problems: [CertificateProblem] = [], reasons: [String] = [],
                trustedRoot: String? = nil, untrustedIssuer: String? = nil, interceptionPattern: String? = nil,
                interceptionIssuer: String? = nil, malformedCertificates: Int = 0) {
        self.serverName = serverName
        self.chain = chain
        self.problems = problems
        self.reasons = reasons
        self.trustedRoot = trustedRoot
        self.untrustedIssuer = untrustedIssuer
        self.interceptionPattern = interceptionPattern
        self.interceptionIssuer = interceptionIssuer
        self.malformedCertificates = malformedCertificates
    }

    /// The name the certificate was checked against (the SNI), when there was one.
    public var serverName: String?
    /// The presented certificates that parsed, in the order sent (leaf first).
    public var chain: [CertificateFacts]
    /// Empty when the chain is trusted, matches the name and was valid at the time.
    public var problems: [CertificateProblem]
    /// One sentence per problem, in the order of `problems`.
    public var reasons: [String]
    /// The trust anchor's subject, when the chain leads to one.
    public var trustedRoot: String?
    /// The CA name where the path leaves what the trust store knows (untrusted chains only).
    public var untrustedIssuer: String?
    /// A pattern of the interception-issuer list and the CA name it matched.
    public var interceptionPattern: String?
    public var interceptionIssuer: String?
    /// Presented certificates after the leaf that did not parse.
    public var malformedCertificates: Int

    public var leaf: CertificateFacts? { chain.first }
    public var isTrusted: Bool { problems.isEmpty }
    /// The main reason: a trust problem before a name problem before a time problem.
    public var primaryProblem: CertificateProblem? { problems.min() }
}

public enum CertificateJudgement: Sendable {
    case judged(CertificateVerdict)
    /// The leaf certificate did not parse (with the parser's error).
    case malformed(String)
    /// The Certificate message held no certificate.
    case empty
    /// No trust roots could be loaded: nothing can be said about trust.
    case noTrustStore
}

/// Judges server certificate chains seen in TLS ≤ 1.2 handshakes against a trust store, the
/// server name the client asked for (SNI) and the time of the capture. Knows nothing of captures.
///
/// Each distinct (chain, server name) is verified once; the result that does not depend on time
/// (does it chain to a trusted root, does the name match) is cached, and only the validity dates
/// are compared per connection. Chains are built and checked with swift-certificates
/// (`Verifier` with `RFC5280Policy` and `ServerIdentityPolicy`).
public final class CertificateJudge {
    public struct Stats: Sendable {
        /// Distinct (chain, name) pairs verified.
        public var chainsVerified = 0
        public var cacheHits = 0
        /// Certificates that did not parse (a leaf or a later one).
        public var malformedCertificates = 0
    }

    /// Certificates of one message beyond this many are ignored (real chains are short; this
    /// bounds chain building on hostile input).
    public static let maxCertificates = 8
    public static let maxCacheEntries = 4096

    public let settings: TrustSettings
    public let interception: InterceptionIssuerList
    public private(set) var stats = Stats()

    private var rootsLoaded = false
    private var roots = CertificateStore()
    /// The files the trust roots came from (after the first judgement).
    public private(set) var trustSources: [String] = []
    public private(set) var trustRootCount = 0

    private enum Cached {
        case analysis(ChainAnalysis)
        case malformed(String)
    }
    private var cache: [[UInt8]: Cached] = [:]
    private struct DayKey: Hashable {
        var chain: [UInt8]
        var day: Int64
    }
    private var timedCache: [DayKey: Bool] = [:]

    public init(settings: TrustSettings = TrustSettings(), interception: InterceptionIssuerList = InterceptionIssuers.builtIn) {
        self.settings = settings
        self.interception = interception
    }

    /// Loads the roots now (otherwise done on the first judgement). Returns how many there are.
    @discardableResult
    public func loadRoots() -> Int {
        guard !rootsLoaded else { return trustRootCount }
        rootsLoaded = true
        var all = TrustRoots()
        if settings.useSystemStore, let sys = TrustRoots.system(paths: settings.systemBundlePaths) { all.append(sys) }
        if let extra = settings.additionalRoots { all.append(extra) }
        roots = CertificateStore(all.certificates)
        trustSources = all.sources
        trustRootCount = all.certificates.count
        return trustRootCount
    }

    public func judge(_ message: CertificateMessage, serverName: String?, at time: Date) -> CertificateJudgement {
        judge(der: message.certificates, serverName: serverName, at: time)
    }

    /// Judges the DER certificates of one Certificate message (leaf first) for `serverName` at `time`.
    public func judge(der: [[UInt8]], serverName: String?, at time: Date) -> CertificateJudgement {
        guard !der.isEmpty else { return .empty }
        if loadRoots() == 0 { return .noTrustStore }
        let name = serverName.map(Self.normalize).flatMap { $0.isEmpty ? nil : $0 }
        let certs = Array(der.prefix(Self.maxCertificates))
        let key = Self.cacheKey(certs, name)
        let analysis: ChainAnalysis
        switch cache[key] {
        case .analysis(let a)?:
            stats.cacheHits += 1
            analysis = a
        case .malformed(let e)?:
            stats.cacheHits += 1
            return .malformed(e)
        case nil:
            if cache.count >= Self.maxCacheEntries { cache.removeAll(keepingCapacity: true) }
            switch analyze(certs, name: name) {
            case .success(let a):
                cache[key] = .analysis(a)
                analysis = a
            case .failure(let e):
                cache[key] = .malformed(e.message)
                return .malformed(e.message)
            }
        }
        var v = verdict(analysis, key: key, at: time)
        v.serverName = name
        return .judged(v)
    }

    static func normalize(_ name: String) -> String {
        var n = name.lowercased()
        while n.hasSuffix(".") { n.removeLast() }
        return n
    }

    static func cacheKey(_ der: [[UInt8]], _ name: String?) -> [UInt8] {
        var h = SHA256()
        for d in der {
            var n = UInt32(d.count).bigEndian
            withUnsafeBytes(of: &n) { h.update(bufferPointer: $0) }
            h.update(data: d)
        }
        h.update(data: Array((name ?? "").utf8))
        return Array(h.finalize())
    }

    // MARK: - The time-independent part

    struct ChainAnalysis {
        var presented: [Certificate]
        var facts: [CertificateFacts]
        var malformed: Int
        var acknowledged: [ASN1ObjectIdentifier]
        /// The trusted path (leaf first, root last) built with validity dates ignored.
        var trustedPath: [Certificate]?
        /// nil: there was no name to check.
        var nameMatches: Bool?
        var selfSigned: Bool
        var untrustedIssuer: String?
        var untrustedIsRoot: Bool
        var interception: (pattern: String, name: String)?
    }

    struct ParseFailure: Error {
        var message: String
    }

    func analyze(_ der: [[UInt8]], name: String?) -> Result<ChainAnalysis, ParseFailure> {
        stats.chainsVerified += 1
        var presented: [Certificate] = []
        var facts: [CertificateFacts] = []
        var malformed = 0
        for (i, d) in der.enumerated() {
            do {
                let c = try Certificate(derEncoded: d)
                presented.append(c)
                facts.append(CertificateFacts(c, der: d))
            } catch {
                malformed += 1
                stats.malformedCertificates += 1
                if i == 0 { return .failure(ParseFailure(message: "the server's certificate does not parse: \(error)")) }
            }
        }
        guard let leaf = presented.first else { return .failure(ParseFailure(message: "no certificate")) }
        let intermediates = Array(presented.dropFirst())
        // The Verifier refuses certificates with critical extensions no policy claims; trust is
        // judged here, not the use of such extensions, so the presented ones are acknowledged.
        var ack: [ASN1ObjectIdentifier] = []
        for c in presented {
            for e in c.extensions where e.critical && !ack.contains(e.oid) { ack.append(e.oid) }
        }
        let trustedPath = Self.verifyPath(leaf: leaf, intermediates: intermediates, roots: roots, acknowledged: ack, at: nil)
        var nameMatches: Bool?
        if let name {
            nameMatches = Self.verifyName(leaf: leaf, name: name, acknowledged: ack)
        }
        var a = ChainAnalysis(presented: presented, facts: facts, malformed: malformed, acknowledged: ack,
                              trustedPath: trustedPath, nameMatches: nameMatches, selfSigned: false,
                              untrustedIssuer: nil, untrustedIsRoot: false, interception: nil)
        if trustedPath == nil {
            a.selfSigned = leaf.subject == leaf.issuer && leaf.publicKey.isValidSignature(leaf.signature, for: leaf)
            // Follow the presented chain as far as it goes.
            var tip = leaf
            var used: Set<Int> = []
            var path = [leaf]
            while tip.subject != tip.issuer,
                  let i = intermediates.indices.first(where: { !used.contains($0) && intermediates[$0].subject == tip.issuer
                                                                 && intermediates[$0].publicKey.isValidSignature(tip.signature, for: tip) }) {
                used.insert(i)
                tip = intermediates[i]
                path.append(tip)
            }
            a.untrustedIsRoot = tip.subject == tip.issuer && !a.selfSigned
            a.untrustedIssuer = a.selfSigned ? leaf.subject.description : (a.untrustedIsRoot ? tip.subject.description : tip.issuer.description)
            // Interception products: the leaf's issuer first, then the CAs above it.
            var names = [leaf.issuer.description]
            for c in path.dropFirst() { names.append(c.subject.description); names.append(c.issuer.description) }
            if a.selfSigned { names.append(leaf.subject.description) }
            for n in names {
                if let p = interception.match(n) {
                    a.interception = (p, n)
                    break
                }
            }
        }
        return .success(a)
    }

    // MARK: - Time and the verdict

    func verdict(_ a: ChainAnalysis, key: [UInt8], at time: Date) -> CertificateVerdict {
        var v = CertificateVerdict(serverName: nil, chain: a.facts, problems: [], reasons: [], trustedRoot: nil,
                                   untrustedIssuer: a.untrustedIssuer, interceptionPattern: a.interception?.pattern,
                                   interceptionIssuer: a.interception?.name, malformedCertificates: a.malformed)
        let leafFacts = a.facts.first
        if let path = a.trustedPath {
            v.trustedRoot = path.last?.subject.description
            if let (problem, cert) = Self.timeProblem(path, at: time) {
                // Another path (a cross-signed root) may be valid at that time.
                let day = DayKey(chain: key, day: Int64((time.timeIntervalSince1970 / 86_400).rounded(.down)))
                let validThen: Bool
                if let known = timedCache[day] {
                    validThen = known
                } else {
                    validThen = Self.verifyPath(leaf: a.presented[0], intermediates: Array(a.presented.dropFirst()), roots: roots,
                                                acknowledged: a.acknowledged, at: time) != nil
                    if timedCache.count >= Self.maxCacheEntries { timedCache.removeAll(keepingCapacity: true) }
                    timedCache[day] = validThen
                }
                if !validThen { add(&v, problem, Self.timeReason(problem, cert, isLeaf: cert == a.presented[0], at: time)) }
            }
        } else {
            if a.selfSigned {
                add(&v, .selfSigned, "self-signed: the certificate is its own issuer (\(a.untrustedIssuer ?? "?")) and is not in the trust store")
            } else if a.untrustedIsRoot {
                add(&v, .unknownIssuer, "unknown issuer: the chain ends at the root \(a.untrustedIssuer ?? "?"), which is not in the trust store")
            } else {
                add(&v, .unknownIssuer, "unknown issuer: \(a.untrustedIssuer ?? "?") is neither sent by the server nor in the trust store")
            }
            if let leaf = a.presented.first, let (problem, cert) = Self.timeProblem([leaf], at: time) {
                add(&v, problem, Self.timeReason(problem, cert, isLeaf: true, at: time))
            }
        }
        if a.nameMatches == false, let lf = leafFacts {
            add(&v, .nameMismatch, "name mismatch: issued for \(Self.namesText(lf)), not for the requested name")
        }
        return v
    }

    private func add(_ v: inout CertificateVerdict, _ p: CertificateProblem, _ reason: String) {
        v.problems.append(p)
        v.reasons.append(reason)
    }

    static func timeProblem(_ certs: [Certificate], at t: Date) -> (CertificateProblem, Certificate)? {
        for c in certs {
            if t > c.notValidAfter { return (.expired, c) }
            if t < c.notValidBefore { return (.notYetValid, c) }
        }
        return nil
    }

    static func timeReason(_ p: CertificateProblem, _ c: Certificate, isLeaf: Bool, at t: Date) -> String {
        let which = isLeaf ? "the certificate" : "the CA certificate \(c.subject)"
        if p == .expired {
            return "expired: \(which) was valid until \(rfc3339(c.notValidAfter)); the connection is from \(rfc3339(t))"
        }
        return "not yet valid: \(which) is valid from \(rfc3339(c.notValidBefore)); the connection is from \(rfc3339(t))"
    }

    static func namesText(_ f: CertificateFacts) -> String {
        var names = f.subjectAlternativeNames
        if names.isEmpty, let cn = f.commonName { names = ["CN " + cn] }
        if names.isEmpty { return "no name at all" }
        let shown = names.prefix(6).joined(separator: ", ")
        return names.count > 6 ? shown + " and \(names.count - 6) more" : shown
    }

    // MARK: - swift-certificates

    /// The Verifier's path to a trusted root, with validity dates checked at `time` (nil: ignored).
    static func verifyPath(leaf: Certificate, intermediates: [Certificate], roots: CertificateStore,
                           acknowledged: [ASN1ObjectIdentifier], at time: Date?) -> [Certificate]? {
        let inter = CertificateStore(intermediates)
        let result: CertificateValidationResult? = waitFor {
            if let time {
                var v = Verifier(rootCertificates: roots) {
                    RFC5280Policy(fixedExpiryValidationTime: time)
                    AcknowledgedExtensions(verifyingCriticalExtensions: acknowledged)
                }
                return await v.validate(leaf: leaf, intermediates: inter)
            }
            var v = Verifier(rootCertificates: roots) {
                RFC5280Policy.withValidityCheckDisabled()
                AcknowledgedExtensions(verifyingCriticalExtensions: acknowledged)
            }
            return await v.validate(leaf: leaf, intermediates: inter)
        }
        if case .validCertificate(let chain)? = result { return Array(chain) }
        return nil
    }

    /// Does the leaf cover `name` (RFC 6125 matching by swift-certificates' ServerIdentityPolicy)?
    /// An IP literal (a probe of an address) is matched against the iPAddress SANs (RFC 5280
    /// §4.2.1.6, RFC 6125 §1.7.2), never against DNS names or the CN.
    static func verifyName(leaf: Certificate, name: String, acknowledged: [ASN1ObjectIdentifier]) -> Bool {
        let ip = CertificateNames.isIPLiteral(name)
        // A verifier whose only root is the leaf itself judges the leaf alone.
        let result: CertificateValidationResult? = waitFor {
            var v = Verifier(rootCertificates: CertificateStore([leaf])) {
                AcknowledgedExtensions(verifyingCriticalExtensions: acknowledged)
                ServerIdentityPolicy(serverHostname: ip ? nil : name, serverIP: ip ? name : nil)
            }
            return await v.validate(leaf: leaf, intermediates: CertificateStore())
        }
        if case .validCertificate? = result { return true }
        return false
    }
}

/// Claims the given critical extensions as handled, and accepts every chain.
struct AcknowledgedExtensions: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier]
    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult { .meetsPolicy }
}

/// Runs an async computation to completion from synchronous code (the capture pipeline is
/// synchronous; the Verifier's API is async although it does not suspend for in-memory stores).
/// Must not be called from a task that the computation would have to wait for.
func waitFor<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T? {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        box.set(await work())
        done.signal()
    }
    done.wait()
    return box.get()
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func get() -> T? { lock.lock(); defer { lock.unlock() }; return value }
}

func rfc3339(_ d: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: d)
}
