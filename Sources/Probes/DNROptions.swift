import Foundation
import NetTypes

/// One encrypted resolver the network announced with DNR (RFC 9463: DHCPv4 option 162, DHCPv6
/// option 144, the IPv6 RA option 144): its authentication domain name (ADN), addresses, ALPNs
/// and port, as the host's network manager stored it.
public struct DNRResolver: Sendable, Equatable {
    public var adn: String
    public var addresses: [String]
    public var alpns: [String]
    public var port: Int?
    /// The state file it was read from.
    public var source: String

    public var text: String {
        "\(adn.isEmpty ? "?" : adn) addresses=\(addresses.joined(separator: ",")) alpn=\(alpns.joined(separator: ","))"
            + (port.map { " port=\($0)" } ?? "") + " (\(source))"
    }
}

/// Reads DNR options where the host exposes them: systemd-networkd's link state files
/// (`/run/systemd/netif/links/*`) and NetworkManager's state and lease files
/// (`/run/NetworkManager/devices/*`, `/var/lib/NetworkManager/*.lease`). Best effort: a line whose
/// key is `DNR` (any case, optionally prefixed, e.g. `V4_DNR`) is parsed for an ADN, addresses,
/// `alpn=` and `port=`; nothing else in those files is read. Bounded: 64 files, 64 KiB each.
public enum DNROptions {
    public static let defaultPlaces = ["/run/systemd/netif/links", "/run/NetworkManager/devices", "/var/lib/NetworkManager"]

    public struct Found: Sendable {
        public var resolvers: [DNRResolver] = []
        /// The places that exist (were looked at).
        public var looked: [String] = []
    }

    public static func read(places: [String] = defaultPlaces) -> Found {
        var found = Found()
        let fm = FileManager.default
        var files = 0
        for dir in places {
            guard let names = try? fm.contentsOfDirectory(atPath: dir) else { continue }
            found.looked.append(dir)
            for name in names.sorted() where files < 64 {
                if dir.hasSuffix("NetworkManager") && !name.hasSuffix(".lease") { continue }
                let path = dir + "/" + name
                guard let h = FileHandle(forReadingAtPath: path) else { continue }
                let data = (try? h.read(upToCount: 65_536)) ?? nil
                try? h.close()
                files += 1
                guard let data else { continue }
                found.resolvers += parse(String(decoding: data, as: UTF8.self), source: path)
            }
        }
        return found
    }

    /// DNR lines of one state file.
    public static func parse(_ text: String, source: String) -> [DNRResolver] {
        var out: [DNRResolver] = []
        for raw in text.split(whereSeparator: \.isNewline).prefix(4096) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).uppercased()
            guard key == "DNR" || key.hasSuffix("_DNR") else { continue }
            let value = String(line[line.index(after: eq)...])
            // Several resolvers may share a line, separated by ";" (or by spaces between entries).
            for entry in value.split(separator: ";").prefix(16) {
                if let r = parseEntry(String(entry), source: source) { out.append(r) }
            }
        }
        return out
    }

    static func parseEntry(_ entry: String, source: String) -> DNRResolver? {
        var r = DNRResolver(adn: "", addresses: [], alpns: [], port: nil, source: source)
        for token in entry.split(whereSeparator: { $0 == " " || $0 == "\t" }).prefix(64) {
            let t = String(token)
            let lower = t.lowercased()
            if lower.hasPrefix("alpn=") {
                r.alpns += t.dropFirst(5).split(separator: ",").prefix(8).map(String.init)
            } else if lower.hasPrefix("port=") {
                r.port = Int(t.dropFirst(5)).flatMap { (1...65_535).contains($0) ? $0 : nil }
            } else if t.contains("=") {
                continue
            } else {
                for part in t.split(separator: ",").prefix(16) {
                    let p = String(part)
                    if IPAddress.isLiteral(p) {
                        r.addresses.append(p)
                    } else if r.adn.isEmpty, p.contains("."), p.count <= 253,
                              p.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) {
                        r.adn = p.hasSuffix(".") ? String(p.dropLast()) : p
                    }
                }
            }
        }
        return r.adn.isEmpty && r.addresses.isEmpty ? nil : r
    }

    /// Notes for the report: what DNR says, or that the host exposes none, and how it compares
    /// with the DDR designations of the resolvers under test (resolver → designated names).
    public static func notes(_ found: Found, ddr: [String: [String]]) -> [String] {
        guard !found.resolvers.isEmpty else {
            let places = found.looked.isEmpty ? "none of " + defaultPlaces.joined(separator: ", ") + " exists" : "looked in " + found.looked.joined(separator: ", ")
            return ["DNR (RFC 9463): this host exposes no DNR options (\(places)); only DDR was checked"]
        }
        var out: [String] = []
        for r in found.resolvers.prefix(16) {
            var line = "DNR (RFC 9463): the network announces \(r.text)"
            let designatedBy = ddr.filter { $0.value.contains { $0.lowercased() == r.adn.lowercased() } }.keys.sorted()
            if !designatedBy.isEmpty {
                line += "; DDR agrees: \(designatedBy.joined(separator: ", ")) designate\(designatedBy.count == 1 ? "s" : "") \(r.adn) too"
            } else if !ddr.isEmpty {
                let names = Set(ddr.values.flatMap { $0 }).sorted()
                line += names.isEmpty ? "; DDR designates nothing" : "; DDR designates \(names.joined(separator: ", ")) instead: DNR and DDR disagree"
            }
            out.append(line)
        }
        return out
    }
}
