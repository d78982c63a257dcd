import Findings
import FirewallAudit
import FirewallModel
import FirewallSource

#if canImport(Glibc)
import Glibc
import SystemResolverReader
#endif

/// A saved ruleset (nft text through a private namespace, nft JSON, iptables-save), for
/// `rules --file` and `analyze --ruleset`.
public func readSavedRuleset(_ file: String) throws -> RulesetReadResult {
    let lister = selfExecutable().flatMap {
        SavedRulesetReader.NamespaceLister.reexecuting($0, arguments: ["rules", "--internal-load-in-namespace"])
    }
    do {
        return try SavedRulesetReader.read(path: file, lister: lister)
    } catch let e as RulesetSourceError {
        throw RunFailure(e.message)
    }
}

/// The nameservers of /etc/resolv.conf and systemd-resolved's upstream list, as resolver addresses.
public func machineResolvers(files: [String] = SystemResolvers.defaultFiles) -> [ResolverAddress] {
    SystemResolvers.read(files: files).compactMap { ResolverAddress($0.address, source: "nameserver in \($0.file)") }
}

public func loadPolicy(_ policyPath: String?) throws -> FirewallPolicy {
    guard let path = policyPath else { return FirewallPolicy() }
    guard let data = FileReader.readSmall(path) else {
        throw RunFailure("cannot read the policy file \(path): \(String(cString: strerror(errno)))")
    }
    do {
        return try FirewallPolicy.parse(toml: String(decoding: data, as: UTF8.self), source: path)
    } catch let e as PolicyError {
        throw RunFailure(e.message)
    }
}

public func rulesetInput(_ s: SourcedRuleset) -> ReportInput {
    ReportInput(kind: "ruleset", name: s.name, facts: [
        ("format", .string(s.format)), ("reader", .string(s.reader)), ("tables", .int(s.ruleset.tables.count)),
        ("chains", .int(s.ruleset.chains.count)), ("rules", .int(s.ruleset.rules.count)),
    ])
}

/// This program's own path, to run the namespace helper with.
public func selfExecutable() -> String? {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Reads a small file (a policy) completely; nil with errno set on failure.
public enum FileReader {
    public static func readSmall(_ path: String, limit: Int = 4 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count <= limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }
}
