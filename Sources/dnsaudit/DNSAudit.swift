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
            var message = DNSAudit.message(for: error)
            if let newline = message.firstIndex(of: "\n") { message = String(message[..<newline]) }
            printError(message + " (see 'dnsaudit --help')")
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
        """,
        version: DNSAuditVersion.current,
        subcommands: [Analyze.self, Decode.self, Live.self, Rules.self, Probe.self, Audit.self]
    )
}



