// FirewallModel: filled in by issue 4.
