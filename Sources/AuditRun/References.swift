import Findings
import NIOCore
import NIOSSL
import ResolverCatalog
import ResolverClients

#if canImport(Glibc)
import Glibc
#endif

/// The references a command was given (--reference, --ca-file, --timeout), ready to ask.
public struct ReferenceOptions: Sendable {
    public var urls: [String]
    public var caFile: String?
    public var timeoutSeconds: Double

    public init(urls: [String], caFile: String?, timeoutSeconds: Double) {
        self.urls = urls
        self.caFile = caFile
        self.timeoutSeconds = timeoutSeconds
    }

    public func endpoints(defaults: [String] = ResolverCatalog.defaultReferences) throws -> [ResolverEndpoint] {
        let list = urls.isEmpty ? defaults : urls
        var out: [ResolverEndpoint] = []
        for u in list {
            do {
                out.append(try ResolverEndpoint.parse(u))
            } catch let e as ResolverEndpoint.ParseError {
                throw RunFailure("--reference: \(e.description)")
            }
        }
        return out
    }

    public func settings() throws -> ClientSettings {
        var s = ClientSettings()
        if let ca = caFile {
            guard access(ca, R_OK) == 0 else { throw RunFailure("--ca-file: cannot read \(ca): \(String(cString: strerror(errno)))") }
            // Checked here, so that no client is half set up when the file is bad.
            guard let certs = try? NIOSSLCertificate.fromPEMFile(ca), !certs.isEmpty else {
                throw RunFailure("--ca-file: \(ca) holds no PEM certificate")
            }
            s.caFile = ca
        }
        guard timeoutSeconds > 0 && timeoutSeconds <= 120 else { throw RunFailure("--timeout must be between 0 and 120 seconds") }
        s.timeout = .milliseconds(Int64(timeoutSeconds * 1000))
        return s
    }

    public func referenceSet(defaults: [String] = ResolverCatalog.defaultReferences) throws -> ReferenceSet {
        do {
            return try ReferenceSet(endpoints: try endpoints(defaults: defaults), settings: try settings(), group: ResolverEventLoops.shared)
        } catch let e as RunFailure {
            throw e
        } catch {
            throw RunFailure("cannot set up the references: \(error)")
        }
    }
}

public func referenceInputs(_ set: ReferenceSet) -> [ReportInput] {
    set.endpoints.map { e in
        var facts: [(String, SubjectValue)] = [("transport", .string(e.transport.rawValue)), ("host", .string(e.host)), ("port", .int(e.port))]
        if let n = e.tlsName { facts.append(("tls_name", .string(n))) }
        return ReportInput(kind: "reference", name: e.description, facts: facts)
    }
}
