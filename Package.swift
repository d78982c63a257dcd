// swift-tools-version:6.0
// dnsaudit — finds DNS and TLS tampering from captures, firewall rules and trusted references.
import PackageDescription

/// The packet path (capture → decode → reassembly → detectors) runs per packet: in release builds it
/// skips the run-time exclusivity checks on class properties (measured: several percent of analyze
/// time). Debug builds, and thus the tests, keep them.
let packetPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "dnsaudit",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "dnsaudit", targets: ["dnsaudit"]),
        .executable(name: "dnsaudit-gen", targets: ["dnsaudit-gen"]),
        .executable(name: "dnsaudit-bench", targets: ["dnsaudit-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.25.0"),
        // HPACK for cleartext DoH over HTTP/2 (already resolved: async-http-client depends on it).
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.30.0"),
    ],
    targets: [
        // libpcap, through pkg-config.
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),

        // Wire parsers: no knowledge of capture, flows or findings.
        .target(name: "WireBytes", swiftSettings: packetPath),
        // Shared value types: timestamps (seconds + nanoseconds), IP addresses, flow keys.
        // Open-addressing hash tables for per-flow state on the packet path.
        .target(name: "FlowTable", swiftSettings: packetPath),
        .target(name: "NetTypes", dependencies: ["FlowTable"], swiftSettings: packetPath),
        .target(name: "DNSWire", dependencies: ["WireBytes", "NetTypes"], swiftSettings: packetPath),
        .target(name: "TLSWire", dependencies: [
            "WireBytes",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ], swiftSettings: packetPath),
        .target(name: "PacketDecode", dependencies: ["WireBytes", "NetTypes"], swiftSettings: packetPath),
        // Cleartext DNS over HTTPS (HTTP/1.1, h2c): DNS messages out of GET ?dns= and dns-message bodies.
        .target(name: "DoHWire", dependencies: [
            .product(name: "NIOHPACK", package: "swift-nio-http2"), .product(name: "NIOCore", package: "swift-nio"),
        ]),

        // Flows: IP fragment reassembly and TCP stream reassembly, with bounded memory.
        .target(name: "FlowReassembly", dependencies: ["PacketDecode", "NetTypes", "FlowTable"], swiftSettings: packetPath),

        // Capture input (libpcap) and output (pure Swift pcap writer).
        .target(name: "CaptureSource", dependencies: ["CPcap"], swiftSettings: packetPath),
        .target(name: "PcapWriter"),
        .target(name: "PacketSynth", dependencies: ["NetTypes"]),

        // Findings and report model; detectors; the engine that wires them together.
        .target(name: "Findings"),
        // One policy per finding kind: typed evidence in, the finding (severity, confidence, wording) out.
        // Well-known public resolver operators: addresses, DoH/DoT names, identities, default references.
        .target(name: "ResolverCatalog"),
        .target(name: "FindingPolicy", dependencies: ["Findings", "NetTypes", "TLSCertificates"]),
        .target(name: "DNSAnalysis", dependencies: ["DNSWire", "Findings", "FindingPolicy", "NetTypes", "FlowTable"], swiftSettings: packetPath),
        // Server certificates (TLS ≤ 1.2): parsed and verified with swift-certificates against a
        // trust store, the SNI and the capture time. No knowledge of capture.
        .target(name: "TLSCertificates", dependencies: [
            "TLSWire",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "TLSAnalysis", dependencies: ["TLSWire", "TLSCertificates", "Findings", "FindingPolicy", "NetTypes", "ResolverCatalog", "WireBytes"], swiftSettings: packetPath),
        // What the analysis core emits for decode output (no knowledge of capture or of the engine).
        .target(name: "AnalysisEvents", dependencies: ["DNSWire", "TLSWire", "NetTypes"], swiftSettings: packetPath),
        // The analysis core: frames and time in, events and findings out; no libpcap in it.
        .target(name: "AnalysisEngine", dependencies: [
            "DoHWire", "AnalysisEvents", "PacketDecode", "FlowReassembly", "DNSWire", "TLSWire", "DNSAnalysis", "TLSAnalysis", "Findings", "NetTypes",
            "DNSObservations", "TLSCertificates", "FlowTable", "ResolverCatalog", "FindingPolicy",
        ], swiftSettings: packetPath),
        // Drivers that feed the core: capture files and live interfaces (libpcap, via CaptureSource).
        .target(name: "CaptureDrivers", dependencies: ["AnalysisEngine", "CaptureSource", "Findings", "NetTypes", "PacketDecode"], swiftSettings: packetPath),

        // Firewall audit: libnftables; the rule model (nft JSON, nft text, iptables-save); the analysis
        // that turns reachable rules into findings; the readers of live and saved rulesets.
        .systemLibrary(name: "CNftables", pkgConfig: "libnftables", providers: [.apt(["libnftables-dev"])]),
        .target(name: "FirewallModel"),
        .target(name: "FirewallAudit", dependencies: [
            "FirewallModel", "Findings", "NetTypes", "ResolverCatalog", .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        .target(name: "FirewallSource", dependencies: ["CNftables", "FirewallModel"]),
        // This machine's resolvers: resolv.conf and systemd-resolved's upstreams (firewall audit, probes).
        .target(name: "SystemResolverReader"),

        // Ties firewall redirect rules to the capture's DNS (analyze --ruleset).
        .target(name: "FindingCorrelation", dependencies: ["DNSAnalysis", "FirewallAudit", "Findings", "NetTypes"]),

        // References and active probes: DoH / DoT / Do53 clients; the OONI/Iris-style answer comparison;
        // the bounded collector of the capture's answers (for analyze --reference); probes and the ladder.
        // DNS over QUIC: ngtcp2 + GnuTLS from Debian (libngtcp2-dev, libngtcp2-crypto-gnutls-dev, libgnutls28-dev);
        // DoH over HTTP/3 adds nghttp3 (libnghttp3-dev).
        .target(name: "CDoQ", linkerSettings: [.linkedLibrary("ngtcp2"), .linkedLibrary("ngtcp2_crypto_gnutls"), .linkedLibrary("gnutls"),
                                               .linkedLibrary("nghttp3")]),
        .target(name: "ResolverClients", dependencies: [
            "CDoQ", "DNSWire", "NetTypes", "ResolverCatalog", "TLSCertificates",
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .target(name: "AnswerComparison", dependencies: ["DNSWire"]),
        .target(name: "DNSObservations", dependencies: ["AnswerComparison", "DNSWire", "NetTypes"]),
        .target(name: "Probes", dependencies: [
            "ResolverClients", "ResolverCatalog", "SystemResolverReader", "AnswerComparison", "DNSObservations", "DNSWire", "Findings", "FindingPolicy", "TLSCertificates", "NetTypes",
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),

        // Output formats: reports and decode lines.
        .target(name: "ReportRender", dependencies: ["Findings", "DNSWire", "TLSWire", "AnalysisEvents", "NetTypes", "WireBytes"]),

        // Executables.
        // The scheduled audit's policy file (TOML): what to run, against what, where to write.
        .target(name: "AuditPolicy", dependencies: ["Findings", "FirewallAudit", .product(name: "TOMLKit", package: "TOMLKit")]),

        // One run library under the thin CLI: live sessions, references, report rendering and
        // writing (atomic, privilege-aware). The executable only parses flags and calls it.
        .target(name: "AuditRun", dependencies: [
            "AnalysisEngine", "AuditPolicy", "CaptureDrivers", "CaptureSource", "DNSAnalysis", "DNSObservations", "FindingCorrelation", "Findings",
            "FirewallAudit", "FirewallModel", "FirewallSource", "NetTypes", "PacketDecode", "Probes", "ReportRender",
            "ResolverCatalog", "ResolverClients", "SystemResolverReader", "TLSCertificates", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),

        .executableTarget(name: "dnsaudit", dependencies: [
            "AuditRun",
            "AnalysisEngine", "CaptureDrivers", "AuditPolicy", "DNSAnalysis", .product(name: "NIOSSL", package: "swift-nio-ssl"), "ReportRender", "Findings", "CaptureSource", "FirewallAudit", "FirewallSource", "Probes", "ResolverClients", "TLSCertificates", "FindingCorrelation",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "dnsaudit-gen", dependencies: [
            "PcapWriter", "DNSWire", "NetTypes", "PacketSynth", "TLSWire",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "dnsaudit-bench", dependencies: [
            "CaptureSource", "TLSWire", "DNSWire", "DNSAnalysis", "NetTypes", "PacketSynth",
            "PacketDecode", "AnalysisEngine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // libFuzzer entry points (scripts/fuzz.sh); a replay tool in normal builds.
        .executableTarget(name: "dnsaudit-fuzz", dependencies: [
            "DNSWire", "TLSWire", "PacketDecode", "AnalysisEngine", "NetTypes", "DoHWire", "TLSAnalysis",
        ]),

        // Tests.
        // Shared by the black-box and root-only test targets: the built binary, bounded and long-running
        // processes, network namespaces, skips with a printed reason, openssl test PKIs, temp dirs.
        .target(name: "IntegrationSupport", dependencies: [], path: "Tests/IntegrationSupport"),
        .testTarget(name: "DNSWireTests", dependencies: ["DNSWire"]),
        .testTarget(name: "TLSWireTests", dependencies: ["TLSWire", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "DoHWireTests", dependencies: ["DoHWire", .product(name: "NIOHPACK", package: "swift-nio-http2"), .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "FlowTableTests", dependencies: ["FlowTable"]),
        // An in-memory test PKI (swift-certificates), shared by the certificate and policy tests.
        .target(name: "TestPKISupport", dependencies: [
            .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ], path: "Tests/TestPKISupport"),
        .testTarget(name: "TLSCertificatesTests", dependencies: [
            "TLSCertificates", "TLSWire", "TestPKISupport", .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "PacketDecodeTests", dependencies: ["PacketDecode", "FlowReassembly", "NetTypes", "PacketSynth"]),
        .testTarget(name: "AnalysisTests", dependencies: ["AnalysisEngine", "AnalysisEvents", "DNSAnalysis", "Findings", "ReportRender", "PcapWriter", "DNSWire", "NetTypes", "PacketDecode", "PacketSynth", "TLSAnalysis", "TLSWire"]),
        // Black-box tests of the dnsaudit binary: conformance with real captures, hostile inputs, demos.
        .testTarget(name: "EndToEndTests", dependencies: ["DNSWire", "NetTypes", "PcapWriter", "PacketSynth", "IntegrationSupport"], resources: [.copy("known-differences.tsv")]),
        .testTarget(name: "FirewallTests", dependencies: ["FirewallModel", "FirewallAudit", "FirewallSource", "Findings", "SystemResolverReader"]),
        .testTarget(name: "ReportRenderTests", dependencies: ["ReportRender", "Findings", "DNSWire", "NetTypes"]),
        // Root only: live capture in a network namespace (privilege drop, streaming, --write).
        .testTarget(name: "LiveIntegrationTests", dependencies: ["IntegrationSupport"]),
        // Root only: live capture with references and the scheduled audit in a hijacked topology.
        .testTarget(name: "AuditIntegrationTests", dependencies: ["IntegrationSupport"]),
        .testTarget(name: "CorrelationTests", dependencies: ["FindingCorrelation", "FirewallAudit", "FirewallModel", "DNSAnalysis", "Findings", "NetTypes"]),
        // Root only: each example ruleset installed with real nft / iptables-nft / iptables-legacy in
        // a fresh network namespace, audited live by the built dnsaudit; and offline as an
        // unprivileged user.
        .testTarget(name: "FirewallIntegrationTests", dependencies: ["IntegrationSupport"]),
        .testTarget(name: "ResolverCatalogTests", dependencies: ["ResolverCatalog", "FirewallAudit", "NetTypes"]),
        .testTarget(name: "PacketSynthTests", dependencies: ["NetTypes", "PacketSynth", "PcapWriter"]),
        // Root only: network namespaces with a TLS server, a resetting / intercepting middlebox and
        // a client; runs the built dnsaudit on the captures.
        .testTarget(name: "TLSIntegrationTests", dependencies: ["IntegrationSupport"]),
        // Comparison engine, clients against hostile loopback servers, the observation collector.
        .testTarget(name: "ReferenceTests", dependencies: ["AnswerComparison", "ResolverClients", "DNSObservations", "Probes", "SystemResolverReader", "DNSWire", "Findings", "FindingPolicy", "NetTypes", "TLSCertificates", .product(name: "NIOCore", package: "swift-nio")]),
        // Root: network namespaces with unbound (DoH/DoT), a rogue dnsmasq, blocked 853; runs the binary.
        .testTarget(name: "ProbeIntegrationTests", dependencies: ["DNSWire", "IntegrationSupport"]),
        // One policy per kind: equal evidence from a capture and from a probe gives an equal finding.
        .testTarget(name: "FindingPolicyTests", dependencies: [
            "FindingPolicy", "Findings", "TLSAnalysis", "TLSCertificates", "TLSWire", "Probes", "ResolverClients", "NetTypes", "TestPKISupport",
            .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
