// PcapWriter
