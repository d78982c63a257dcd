import ResolverCatalog

/// Public DoH/DoT resolver addresses as ranges: the resolver catalogue's list
/// (`ResolverCatalog.addressListText`, the text of rules/doh-resolvers.txt), and the reader of
/// lists in the same form.
public enum ResolverAddressList {
    /// The built-in list, parsed.
    public static let builtIn: [AddressRange] = parse(ResolverCatalog.addressListText).ranges

    /// One address or prefix per line; `#` comments. Returns the ranges and the lines it could not read.
    public static func parse(_ text: String) -> (ranges: [AddressRange], bad: [String]) {
        var out: [AddressRange] = []
        var bad: [String] = []
        for raw in text.split(separator: "\n") {
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let item = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first.map(String.init) ?? ""
            if item.isEmpty { continue }
            if let r = AddressRange.parse(item) { out.append(r) } else { bad.append(item) }
        }
        return (out, bad)
    }
}
