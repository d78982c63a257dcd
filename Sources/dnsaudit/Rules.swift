import ArgumentParser

struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Audit nftables/iptables rules for DNS and TLS hijacking (not available yet).")
    @Option(name: .long, help: "A saved ruleset (nft list ruleset text, or nft -j JSON).") var file: String?
    @Argument(parsing: .captureForPassthrough) var rest: [String] = []
    func run() throws { throw NotYetAvailable.fail("rules") }
}
