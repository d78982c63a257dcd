import Foundation
import SwiftASN1
import X509

/// Trust anchors: the certificates a chain must end at to be trusted.
public struct TrustRoots: Sendable {
    public private(set) var certificates: [Certificate]
    /// Where they came from (file paths), for notes and evidence.
    public private(set) var sources: [String]
    /// PEM blocks in the sources that were not certificates or did not parse.
    public private(set) var skipped: Int

    public init(certificates: [Certificate] = [], sources: [String] = [], skipped: Int = 0) {
        self.certificates = certificates
        self.sources = sources
        self.skipped = skipped
    }

    public var isEmpty: Bool { certificates.isEmpty }

    public mutating func append(_ other: TrustRoots) {
        certificates.append(contentsOf: other.certificates)
        sources.append(contentsOf: other.sources)
        skipped += other.skipped
    }

    /// Where Linux distributions keep their CA bundle (Debian/Ubuntu first).
    public static let systemBundlePaths = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ]

    /// The system trust store: the first bundle of `systemBundlePaths` that holds certificates.
    public static func system(paths: [String] = systemBundlePaths) -> TrustRoots? {
        for p in paths where FileManager.default.isReadableFile(atPath: p) {
            if let roots = try? load(pemFile: p), !roots.isEmpty { return roots }
        }
        return nil
    }

    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Reads every CERTIFICATE block of a PEM file. Throws when the file cannot be read or
    /// holds no certificate at all.
    public static func load(pemFile path: String) throws -> TrustRoots {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw LoadError(description: "cannot read \(path): \(error.localizedDescription)")
        }
        let roots = parse(pem: text, source: path)
        if roots.isEmpty {
            throw LoadError(description: "\(path) holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)")
        }
        return roots
    }

    /// Every CERTIFICATE block of a PEM text; other blocks and unparseable certificates are counted as skipped.
    public static func parse(pem text: String, source: String) -> TrustRoots {
        var certs: [Certificate] = []
        var skipped = 0
        // Split on BEGIN markers so that one bad block does not hide the others.
        let marker = "-----BEGIN "
        var blocks: [Substring] = []
        var rest = Substring(text)
        while let start = rest.range(of: marker) {
            let after = rest[start.upperBound...]
            let next = after.range(of: marker)?.lowerBound ?? rest.endIndex
            blocks.append(rest[start.lowerBound..<next])
            rest = rest[next...]
        }
        for block in blocks {
            // (OpenSSL's "TRUSTED CERTIFICATE" blocks carry trust settings after the DER: not supported.)
            guard block.hasPrefix("-----BEGIN CERTIFICATE-----") else {
                skipped += 1
                continue
            }
            do {
                let doc = try PEMDocument(pemString: String(block))
                certs.append(try Certificate(derEncoded: doc.derBytes))
            } catch {
                skipped += 1
            }
        }
        return TrustRoots(certificates: certs, sources: [source], skipped: skipped)
    }
}

/// Which roots to trust when judging certificates seen in a capture.
public struct TrustSettings: Sendable {
    /// Load the system bundle (lazily, on the first certificate).
    public var useSystemStore: Bool
    public var systemBundlePaths: [String]
    /// Roots added to the system store (`--ca-file`).
    public var additionalRoots: TrustRoots?

    public init(useSystemStore: Bool = true, systemBundlePaths: [String] = TrustRoots.systemBundlePaths,
                additionalRoots: TrustRoots? = nil) {
        self.useSystemStore = useSystemStore
        self.systemBundlePaths = systemBundlePaths
        self.additionalRoots = additionalRoots
    }
}
