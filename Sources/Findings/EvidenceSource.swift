/// Where a piece of evidence came from. A closed set: detectors and checks pick one of these, and
/// the report writes its contract string (`rawValue`: `capture`, `ruleset`, `reference`, `probe`),
/// so the JSON stays what it was when the field was a free string.
public enum EvidenceSource: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Packets: a capture file, standard input or a live interface.
    case capture
    /// A firewall ruleset, live or saved.
    case ruleset
    /// What the trusted references (DoH/DoT) answered.
    case reference
    /// An active check dnsaudit made itself (probe, audit).
    case probe

    public var description: String { rawValue }
}
