#!/usr/bin/env bash
# Capture-core benchmark in release mode: generates 1 M- and 5 M-packet mixes and prints
# packets/s, MB/s and peak RSS for libpcap's read loop, dnsaudit analyze and tshark.
# Usage: scripts/bench.sh [--packets N ...] [--no-tshark] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product dnsaudit 2>&1 | tail -1
swift build -c release --product dnsaudit-gen 2>&1 | tail -1
swift build -c release --product dnsaudit-bench 2>&1 | tail -1
exec .build/release/dnsaudit-bench "$@"
