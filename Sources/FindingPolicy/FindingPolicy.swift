import Findings

/// One policy per finding kind: detectors, probes and ruleset audits hand it typed evidence, and
/// it alone decides the finding's severity, confidence, title and remediation — so equal evidence
/// gives an equal finding, whichever source it came from (a capture, a probe, a ruleset).
///
/// Each kind's policy lives in its own file here (`TLSPolicies.swift`, `DNSPolicies.swift`, …).
public enum FindingPolicy {}
