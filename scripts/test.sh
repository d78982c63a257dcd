#!/usr/bin/env bash
# Runs the whole test suite: unit, conformance (against ../shared/captures-real when present)
# and, as root, the network-namespace integration tests. Installs the Debian packages it needs
# when run as root; otherwise says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=(libpcap-dev libnftables-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev libnghttp3-dev tshark tcpdump iproute2 nftables iptables openssl ca-certificates unbound dnsmasq-base bind9-dnsutils ldnsutils chromium prometheus prometheus-node-exporter python3-jsonschema python3-yaml python3-venv)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # Daemons in test packages (unbound) must not start on install: the tests run their own.
    [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; }
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  elif ! dpkg -s libpcap-dev libnftables-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev libnghttp3-dev >/dev/null 2>&1; then
    echo "test.sh: libpcap-dev, libnftables-dev, libngtcp2-dev, libngtcp2-crypto-gnutls-dev, libgnutls28-dev and libnghttp3-dev are required: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  else
    echo "test.sh: optional packages missing (${missing[*]}): the tests that need them will skip" >&2
  fi
fi

# The Prometheus output is checked with the reference parser when it can be had (PyPI).
python3 -c 'import prometheus_client' 2>/dev/null || python3 -m pip install -q prometheus_client >/dev/null 2>&1 \
  || echo "test.sh: prometheus_client not installed: the .prom parser check will skip" >&2

# The DoQ and DoH-over-HTTP/3 labs' servers (DoQLabTests, DoH3*Tests) are aioquic (PyPI), in a venv of its own.
export DOQ_PYTHON="${DOQ_VENV:-${HOME:-/root}/.cache/dnsaudit/venv-doq}/bin/python"
"$DOQ_PYTHON" -c 'import aioquic' 2>/dev/null || { python3 -m venv "$(dirname "$(dirname "$DOQ_PYTHON")")" >/dev/null 2>&1 \
  && "$DOQ_PYTHON" -m pip install -q aioquic >/dev/null 2>&1; } \
  || echo "test.sh: aioquic not installed: the DoQ lab tests will skip" >&2

swift build 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
swift test 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]'

# The scenario suite (issue 15): planted interceptions and clean controls built in network
# namespaces, truth from tshark and nft, dnsaudit scored per mode (offline, live, probe, audit).
# Root only (it prints why it skips otherwise). It prints the scorer's table; a miss (recall
# below 100 % in any mode) or a false alarm fails the run (SCENARIOS_GATE=0: report only).
if [ "$(id -u)" = 0 ]; then
  echo "== scenario suite"
  gate=(); [ "${SCENARIOS_GATE:-1}" = 0 ] && gate=(--no-gate)
  python3 scripts/scenarios/run.py --binary .build/debug/dnsaudit "${gate[@]}"
fi
