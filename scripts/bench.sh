#!/usr/bin/env bash
# Capture-core benchmark in release mode: generates 1 M- and 5 M-packet mixes (dnsaudit-gen's mixed
# traffic, and the DNS-heavy mix of ../shared/tools/gen_capture.py when it is there) and prints
# packets/s, MB/s and peak RSS for libpcap's read loop, dnsaudit analyze (at 1 thread and at the
# cores when analyze has --threads), lines/s and MB/s for dnsaudit decode, and tshark -T fields.
# Usage: scripts/bench.sh [--packets N ...] [--no-tshark] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
# A separate build folder (BENCH_SCRATCH, default .build-release) so a long release build does
# not hold the debug build's lock.
scratch="${BENCH_SCRATCH:-.build-release}"
for p in dnsaudit dnsaudit-gen dnsaudit-bench; do
  # Statically linked Swift runtime, as the README builds the binary users run.
  swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product "$p" 2>&1 | tail -1
done
exec "$scratch/release/dnsaudit-bench" "$@"
