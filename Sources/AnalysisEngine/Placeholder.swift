// AnalysisEngine
