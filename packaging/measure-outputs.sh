#!/usr/bin/env bash
# Measures what one scheduled audit writes, per output format (docs/fleet.md's per-day numbers):
#   sudo packaging/measure-outputs.sh [BINARY]      (default: .build/debug/dnsaudit)
#
# Runs `dnsaudit audit` twice inside a network namespace this script creates (no default route,
# no link to the host's network): a clean host, and the same host with a DNS-hijacking nft rule.
# The namespace has its own dnsmasq answering lab.test only (no upstream, no recursion); the
# audit gets explicit lab resolvers and a lab reference, never the public defaults. Every format
# the binary offers is written by the one audit run ([audit.outputs]). The namespace, dnsmasq
# (stopped by PID) and the work directory are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-.build/debug/dnsaudit}")
[ "$(id -u)" = 0 ] || { echo "measure-outputs: needs root (network namespaces)" >&2; exit 2; }
for t in ip dnsmasq nft dig; do command -v $t >/dev/null || { echo "measure-outputs: needs $t" >&2; exit 2; }; done

NS=dnsaF-measure-$$
NET=10.197.61          # a range the host does not use
WORK=$(mktemp -d /tmp/dnsaudit-measure.XXXXXX)
DNSMASQ_PID=""
cleanup() {
  [ -n "$DNSMASQ_PID" ] && kill "$DNSMASQ_PID" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add lab0 type veth peer name lab1
ip -n "$NS" link set lab1 up
ip -n "$NS" addr add "$NET.10/24" dev lab0
ip -n "$NS" addr add "$NET.53/24" dev lab0
ip -n "$NS" link set lab0 up
ip netns exec "$NS" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
  --listen-address="$NET.53" --except-interface=lo --local=/lab.test/ --host-record=www.lab.test,"$NET.80" --pid-file= \
  --log-facility=/dev/null &
DNSMASQ_PID=$!
sleep 0.5

# The formats this binary offers, from its help ("Report format: text, json, …").
FORMATS=$("$BIN" analyze --help | tr '\n' ' ' | sed -n 's/.*Report format: \([a-z, ]*\)\..*/\1/p' | tr -d ' ' | tr ',' ' ')
[ -n "$FORMATS" ] || { echo "measure-outputs: cannot read the formats from --help" >&2; exit 2; }

STDOUT_FORMAT=json
# Keep the formats the policy's [audit.outputs] takes (a format can reach --format first).
for attempt in 1 2 3 4; do
  { echo "[audit.outputs]"; for f in $FORMATS; do echo "$f = \"$WORK/probe.$f\""; done; } > "$WORK/formats.toml"
  err=$("$BIN" audit --policy "$WORK/formats.toml" --no-rules --no-probe --no-capture --quiet 2>&1 >/dev/null || true)
  bad=$(echo "$err" | sed -n "s/.*unknown format '\([a-z]*\)'.*/\1/p")
  [ -z "$bad" ] && break
  echo "(format $bad: not in [audit.outputs] of this binary; measured as the audit's --format instead)"
  FORMATS=$(echo " $FORMATS " | sed "s/ $bad / /")
  STDOUT_FORMAT=$bad
done

audit() {  # audit NAME: one audit run with every format as an output
  local name=$1 dir=$WORK/$1
  mkdir -p "$dir"
  {
    echo "[audit]"
    echo 'interface = "any"'
    echo "duration = 5"
    echo 'user = "root"'
    echo "[audit.outputs]"
    for f in $FORMATS; do echo "$f = \"$dir/report.$f\""; done
    echo "[references]"
    echo "urls = [\"tls://$NET.54\"]"      # a lab address: nothing listens there (an unusable reference)
    echo "timeout = 1"
    echo "[probe]"
    echo "resolvers = [\"$NET.53\"]"
    echo 'targets = []'
    echo 'check_name = "www.lab.test"'
    echo 'canary_zone = "lab.test"'
    echo "dnssec = false"
    echo "identity = true"
  } > "$WORK/$name.toml"
  # Some DNS during the capture window: the host's own lookups.
  ( sleep 3; for i in $(seq 1 20); do ip netns exec "$NS" dig +tries=1 +time=1 @"$NET.53" "$([ $((i % 2)) = 0 ] && echo www.lab.test || echo host$i.lab.test)" >/dev/null 2>&1 || true; done ) &
  local traffic=$!
  local rc=0
  ip netns exec "$NS" "$BIN" audit --policy "$WORK/$name.toml" --quiet --format "$STDOUT_FORMAT" --output "$dir/report.$STDOUT_FORMAT" || rc=$?
  wait "$traffic" || true
  echo "== $name (exit $rc; $(grep -o '"verdict" *: *"[a-z]*"' "$dir/report.json" | head -1))"
  for f in $(echo $FORMATS $STDOUT_FORMAT | tr ' ' '\n' | sort -u); do
    printf '  %-11s %8d bytes  gzip %7d\n' "$f" "$(stat -c %s "$dir/report.$f")" "$(gzip -9c "$dir/report.$f" | wc -c)"
  done
}

audit clean
# The same host with a rule that sends every DNS query that leaves it to another resolver.
ip netns exec "$NS" nft -f - <<EOF
table ip hijack {
  chain output { type nat hook output priority -100; policy accept;
    udp dport 53 ip daddr != $NET.53 dnat to $NET.53:53
    tcp dport 53 ip daddr != $NET.53 dnat to $NET.53:53
  }
}
EOF
audit hijacked
