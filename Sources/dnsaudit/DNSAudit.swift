import ArgumentParser
import AuditRun
import Findings

#if canImport(Glibc)
import Glibc
#endif

/// Entry point: maps every failure to the contract's exit codes (2 = could not run, with one line on stderr).
@main
enum Main {
    static func main() {
        do {
            var command = try DNSAudit.parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch let failure as RunFailure {
            if !failure.silent { printError(failure.message) }
            exit(2)
        } catch {
            let code = DNSAudit.exitCode(for: error)
            if code == .success {
                DNSAudit.exit(withError: error)  // --help, --version
            }
            // Point at the help of the subcommand the arguments named, if any.
            let names = DNSAudit.configuration.subcommands.map { $0._commandName }
            let sub = CommandLine.arguments.dropFirst().first { names.contains($0) }
            printError(oneLine(DNSAudit.message(for: error)) + " (see 'dnsaudit \(sub.map { "\($0) " } ?? "")--help')")
            exit(2)
        }
    }
}

struct DNSAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnsaudit",
        abstract: "Find out whether someone is tampering with this machine's DNS and TLS.",
        discussion: """
        Exit codes: 0 no finding at or above --fail-on (default medium); 1 at least one such finding; \
        2 the run could not be done (bad arguments, unreadable input, missing privilege).

        Shell completion: 'dnsaudit --generate-completion-script bash' (or zsh, fish) prints the script; \
        the Debian package installs all three. Each command's own options: 'dnsaudit help COMMAND'.
        """,
        version: DNSAuditVersion.current,
        subcommands: [Analyze.self, Decode.self, Live.self, Rules.self, Probe.self, Audit.self]
    )
}

/// The argument parser's error as one line: its first line, plus the valid values it lists below
/// it ("… Please provide one of the following: text, json, …"); hints on later lines are dropped.
func oneLine(_ message: String) -> String {
    let lines = message.split(separator: "\n", omittingEmptySubsequences: true)
    guard let first = lines.first else { return message }
    let items = lines.dropFirst().map { $0.trimmingPrefix(while: { $0 == " " }) }.filter { $0.hasPrefix("- ") }.map { $0.dropFirst(2) }
    let values = items.map { item in item.firstIndex(of: ":").map { String(item[..<$0]) } ?? String(item) }
    return values.isEmpty ? String(first) : String(first) + " " + values.joined(separator: ", ")
}
