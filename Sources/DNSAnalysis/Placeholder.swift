// DNSAnalysis
