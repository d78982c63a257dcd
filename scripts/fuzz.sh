#!/usr/bin/env bash
# Builds the libFuzzer target and runs it for a bounded time (seconds, default 60),
# seeded with Tests/Fixtures/fuzz-seeds (TLS hello bodies, a server flight). A crash leaves crash-* files and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
swift build --scratch-path .build-fuzz --product dnsaudit-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 | tail -3
bin=".build-fuzz/debug/dnsaudit-fuzz"
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
# Seed corpus: each frame of the demo captures (link-type byte 0 = Ethernet, then the frame).
if [ -d Tests/Fixtures/fuzz-seeds ]; then cp Tests/Fixtures/fuzz-seeds/* "$corpus"/ 2>/dev/null || true; fi
"$bin" "$corpus" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -15
