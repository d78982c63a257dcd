#if canImport(Glibc)
import Glibc
#endif

/// What `dnsaudit audit --print-systemd` prints: a oneshot service that runs the audit with a
/// policy file, and a daily timer (with a random delay, persistent across downtime).
public enum SystemdUnits {
    /// Both units, the service running `executable` (default: `installedExecutable()`) with the
    /// policy at `policy` (made absolute: the units run from another directory).
    public static func text(policy: String, executable: String? = nil) -> String {
        let exe = executable ?? installedExecutable()
        let policy = absolutePath(policy)
        return """
        # /etc/systemd/system/dnsaudit-audit.service
        [Unit]
        Description=dnsaudit: audit DNS and TLS tampering (firewall rules, probes, capture window)
        Documentation=man:dnsaudit(1)
        Wants=network-online.target
        After=network-online.target

        [Service]
        Type=oneshot
        ExecStart=\(exe) audit --policy \(policy) --quiet --format json --output /var/lib/dnsaudit/last-report.json
        StateDirectory=dnsaudit
        # Exit 1 means "findings at or above fail_on": the run itself succeeded.
        SuccessExitStatus=1
        Nice=10
        ProtectHome=read-only
        PrivateTmp=yes

        # /etc/systemd/system/dnsaudit-audit.timer
        [Unit]
        Description=Run the dnsaudit audit daily

        [Timer]
        OnCalendar=daily
        RandomizedDelaySec=30min
        Persistent=true

        [Install]
        WantedBy=timers.target

        """
    }

    /// The binary the units should run: this one when it is installed (not in a build tree);
    /// else an installed copy found on the PATH (the package's /usr/bin/dnsaudit first); else
    /// this one, by its absolute path.
    public static func installedExecutable() -> String {
        let me = selfExecutable()
        if let me, !me.contains("/.build/") { return me }
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let dirs = ["/usr/bin", "/usr/local/bin"] + path.split(separator: ":").map(String.init)
        for dir in dirs where dir.hasPrefix("/") && !dir.contains("/.build/") {
            let candidate = dir + "/dnsaudit"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return me ?? "/usr/bin/dnsaudit"
    }

    /// `path` made absolute against the working directory (symbolic links resolved when it exists).
    public static func absolutePath(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var rel = Substring(path)
        while rel.hasPrefix("./") { rel = rel.dropFirst(2) }
        return (cwd == "/" ? "" : cwd) + "/" + rel
    }
}
