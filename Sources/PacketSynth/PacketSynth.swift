// PacketSynth — builds complete link-layer frames (Ethernet II / 802.1Q / raw IP) carrying
// IPv4/IPv6 with UDP or TCP, with correct checksums, for tests, demos and benchmarks.
