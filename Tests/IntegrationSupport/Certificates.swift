import Foundation

/// A throwaway test PKI made with the `openssl` command line in one directory: P-256 keys,
/// 7-day certificates. Files are named after `base`: `<base>.key`, `<base>.pem` (and for leaves
/// `<base>.csr`, `<base>.ext`).
public struct OpenSSLTestPKI {
    public let dir: URL
    public let openssl: String

    public init(dir: URL, openssl: String) {
        self.dir = dir
        self.openssl = openssl
    }

    /// `dir/name`.
    public func url(_ name: String) -> URL { dir.appendingPathComponent(name) }

    private func path(_ n: String) -> String { url(n).path }
    private static let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    /// Runs openssl with `args` (bounded), throwing with its output unless it succeeds.
    public func run(_ args: [String]) throws {
        let r = try runBounded(openssl, args, timeout: 30)
        guard r.status == 0, !r.timedOut else { throw LabError("openssl \(args.joined(separator: " ")) failed: \(r.output)") }
    }

    /// A self-signed root CA (`subject` like "/O=…/CN=…"): `<base>.key`, `<base>.pem`.
    public func makeCA(_ base: String, subject: String) throws {
        try run(["req", "-x509"] + Self.ec + ["-sha256", "-days", "7", "-keyout", path("\(base).key"), "-out", path("\(base).pem"),
                 "-subj", subject,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-addext", "subjectKeyIdentifier=hash"])
    }

    /// A TLS server certificate `<base>.pem` / `<base>.key` issued by CA `<ca>` (made with
    /// `makeCA`): CN=`commonName`, subjectAltName the `dnsNames` then the `ipAddresses`
    /// (iPAddress SANs, as public resolvers' certificates carry), serverAuth, a random serial.
    public func makeServerCertificate(_ base: String, ca: String, commonName: String, dnsNames: [String], ipAddresses: [String] = []) throws {
        let ext = url("\(base).ext")
        try """
        basicConstraints=critical,CA:FALSE
        keyUsage=critical,digitalSignature
        extendedKeyUsage=serverAuth
        subjectAltName=\((dnsNames.map { "DNS:" + $0 } + ipAddresses.map { "IP:" + $0 }).joined(separator: ","))
        subjectKeyIdentifier=hash
        authorityKeyIdentifier=keyid

        """.write(to: ext, atomically: true, encoding: .utf8)
        try run(["req", "-new"] + Self.ec + ["-keyout", path("\(base).key"), "-out", path("\(base).csr"), "-subj", "/CN=\(commonName)"])
        try run(["x509", "-req", "-sha256", "-days", "7", "-in", path("\(base).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                 "-set_serial", "0x\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16))",
                 "-extfile", ext.path, "-out", path("\(base).pem")])
    }
}
