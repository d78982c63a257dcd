#if canImport(Glibc)
import Glibc
#endif

/// A user to switch to once the capture is open (like tcpdump -Z).
public struct UnprivilegedUser: Sendable, Equatable {
    public var name: String
    public var uid: uid_t
    public var gid: gid_t

    /// Looks the user up in the password database; nil when there is no such user.
    public static func lookup(_ name: String) -> UnprivilegedUser? {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let rc = getpwnam_r(name, &pw, &buffer, buffer.count, &result)
        guard rc == 0, result != nil else { return nil }
        return UnprivilegedUser(name: name, uid: pw.pw_uid, gid: pw.pw_gid)
    }
}

public struct PrivilegeDropError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Gives up root for good: no supplementary groups, then the user's group, then the user
/// (real, effective and saved ids; the kernel clears every capability with the last step).
/// Throws, saying which step failed and why, instead of going on with privileges. The drop is
/// process-wide (glibc applies set*id to every thread).
public func dropPrivileges(to user: UnprivilegedUser) throws {
    func failure(_ step: String) -> PrivilegeDropError {
        PrivilegeDropError(message: "could not drop privileges to '\(user.name)' (\(step): \(String(cString: strerror(errno)))); "
                               + "refusing to capture as root: use --user with another account, or --no-drop")
    }
    guard setgroups(0, nil) == 0 else { throw failure("setgroups") }
    // As root, setgid and setuid set the real, effective and saved ids alike.
    guard setgid(user.gid) == 0 else { throw failure("setgid \(user.gid)") }
    guard setuid(user.uid) == 0 else { throw failure("setuid \(user.uid)") }
    // Make sure it sticks: no id may still be the old one, and root must not be recoverable.
    guard getuid() == user.uid, geteuid() == user.uid, getgid() == user.gid, getegid() == user.gid else {
        throw PrivilegeDropError(message: "could not drop privileges to '\(user.name)': ids are still uid \(getuid())/\(geteuid()), "
                                     + "gid \(getgid())/\(getegid()); refusing to capture with privileges")
    }
    if user.uid != 0 && setuid(0) == 0 {
        throw PrivilegeDropError(message: "could not drop privileges to '\(user.name)': root could be regained; refusing to capture")
    }
}
