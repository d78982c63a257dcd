// FirewallAudit: filled in by issue 4.
