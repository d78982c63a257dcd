// CaptureSource
