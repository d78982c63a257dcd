#!/usr/bin/env bash
# Live-capture benchmark (not a test): how many DNS packets per second `dnsaudit live` takes
# without kernel drops, next to tcpdump on the same traffic.
#
# Two network namespaces joined by a veth pair (198.18.31.1/30 ── 198.18.31.2/30, no other
# routes: nothing leaves the lab). A small C load generator (sendmmsg, pre-built DNS queries,
# paced to a target rate) blasts UDP/53 from namespace A to B for LOAD_SECONDS at each rate; B
# drops them in nftables input (no ICMP back). At each rate, first `dnsaudit live` then tcpdump
# capture on B's veth (dnsaudit once per --threads value in THREADS, default 1 and all cores); the table shows libpcap's received / dropped for each (dnsaudit: the live
# input's facts in its JSON report; tcpdump: its "dropped by kernel" line), and dnsaudit's peak
# RSS. Both use a 16 MiB capture buffer and the full snap length.
#
# Soak mode (--soak [SECONDS], default 600): "memory stays flat over a long run with millions of
# unanswered queries". In the same lab, a second generator sends a steady SOAK_RATE (default
# 20000) queries/s for SECONDS, never answered (B drops them in nftables), each with its own
# (source port, transaction id) pair for the whole run - 64 source ports, 65536 ids each - and
# the qname rotating over SOAK_NAMES (default 10007) names, so the DNS transaction tracker opens
# one transaction per query (12 M over 600 s at 20000/s). `dnsaudit live` captures for SECONDS+5;
# its VmRSS is sampled every 10 s and printed as a table, then the report's received / dropped and
# the unanswered / evicted counters, min / max / last RSS, and "flat" if every sample from 60 s on
# is within +-10% of the sample at 60 s, else "grows".
#
# Usage: sudo scripts/bench-live.sh            (RATES="50000 100000 200000 300000 500000 800000" LOAD_SECONDS=5)
#        sudo scripts/bench-live.sh --soak [SECONDS]   (SOAK_RATE=20000 SOAK_NAMES=10007)
#        BENCH_SCRATCH=.build-release (default) DNSAUDIT=path/to/dnsaudit (skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK=0
SOAK_SECONDS=600
case "${1:-}" in
  "") ;;
  --soak)
    SOAK=1
    if [ $# -ge 2 ]; then SOAK_SECONDS="$2"; fi
    [ $# -le 2 ] || { echo "usage: $0 [--soak [SECONDS]]" >&2; exit 2; }
    ;;
  *) echo "usage: $0 [--soak [SECONDS]]" >&2; exit 2 ;;
esac
SOAK_RATE="${SOAK_RATE:-20000}"
SOAK_NAMES="${SOAK_NAMES:-10007}"
if [ "$SOAK" = 1 ]; then
  for v in "$SOAK_SECONDS" "$SOAK_RATE" "$SOAK_NAMES"; do
    case "$v" in ''|*[!0-9]*) echo "bench-live: soak seconds, SOAK_RATE and SOAK_NAMES must be positive integers" >&2; exit 2 ;; esac
    [ "$v" -gt 0 ] || { echo "bench-live: soak seconds, SOAK_RATE and SOAK_NAMES must be positive integers" >&2; exit 2; }
  done
fi

RATES="${RATES:-50000 100000 200000 300000 500000 800000}"
# dnsaudit live --threads: 1 and all cores (THREADS="1 2 4" to choose).
THREADS="${THREADS:-1 $(nproc)}"
LOAD_SECONDS="${LOAD_SECONDS:-5}"
LIVE_SECONDS=$((LOAD_SECONDS + 2))
scratch="${BENCH_SCRATCH:-.build-release}"

die() { echo "bench-live: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, live capture)"
for t in ip gcc tcpdump nft python3; do command -v "$t" >/dev/null || die "'$t' is not installed"; done

if [ -z "${DNSAUDIT:-}" ]; then
  echo "building release (swift build -c release --static-swift-stdlib --scratch-path $scratch --product dnsaudit) ..."
  swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product dnsaudit 2>&1 | tail -2
  DNSAUDIT="$scratch/release/dnsaudit"
fi
[ -x "$DNSAUDIT" ] || die "$DNSAUDIT is not built"
DNSAUDIT="$(cd "$(dirname "$DNSAUDIT")" && pwd)/$(basename "$DNSAUDIT")"

NSA="sh-bench-$$-a"
NSB="sh-bench-$$-b"
VA="sh-a$$"
VB="sh-b$$"
ADDR_A=198.18.31.1
ADDR_B=198.18.31.2
TMP="$(mktemp -d /tmp/dnsaudit-bench-live.XXXXXX)"
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null || true
  done
  sleep 0.2
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  done
  ip netns delete "$NSA" 2>/dev/null || true
  ip netns delete "$NSB" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the load generator ---------------------------------------------------------------------
cat > "$TMP/gen.c" <<'EOF'
/* gen DST RATE SECONDS: UDP DNS queries to DST:53 at RATE packets/s for SECONDS, in batches of
 * up to 64 with sendmmsg; 4096 pre-built queries (distinct ids and names) sent in turn. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NQ 4096
#define BATCH 64

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: gen DST RATE SECONDS\n"); return 2; }
    double rate = atof(argv[2]), secs = atof(argv[3]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    int sb = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(53);
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }

    static unsigned char q[NQ][80];
    static size_t qlen[NQ];
    for (int i = 0; i < NQ; i++) {
        unsigned char *p = q[i];
        p[0] = (unsigned char)(i >> 8); p[1] = (unsigned char)i;  /* id */
        p[2] = 0x01; p[3] = 0x00;                                   /* RD */
        p[4] = 0; p[5] = 1; memset(p + 6, 0, 6);                    /* qd=1 */
        size_t o = 12;
        char label[32];
        int n = snprintf(label, sizeof label, "host%d", i);
        p[o++] = (unsigned char)n; memcpy(p + o, label, n); o += n;
        p[o++] = 5; memcpy(p + o, "bench", 5); o += 5;
        p[o++] = 4; memcpy(p + o, "test", 4); o += 4;
        p[o++] = 0;
        p[o++] = 0; p[o++] = 1; p[o++] = 0; p[o++] = 1;             /* A IN */
        qlen[i] = o;
    }
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    long sent = 0, errors = 0, idx = 0;
    double t0 = now(), el;
    while ((el = now() - t0) < secs) {
        long due = (long)(el * rate);
        if (sent >= due) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
            continue;
        }
        int n = due - sent > BATCH ? BATCH : (int)(due - sent);
        memset(msgs, 0, sizeof(struct mmsghdr) * n);
        for (int k = 0; k < n; k++) {
            int j = (int)((idx + k) % NQ);
            iov[k].iov_base = q[j];
            iov[k].iov_len = qlen[j];
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
        }
        int r = sendmmsg(fd, msgs, n, 0);
        if (r < 0) {
            if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) { errors++; continue; }
            perror("sendmmsg");
            return 1;
        }
        sent += r;
        idx += r;
    }
    el = now() - t0;
    printf("%ld %.3f %.0f %ld\n", sent, el, sent / el, errors);
    return 0;
}
EOF
gcc -O2 -Wall -o "$TMP/gen" "$TMP/gen.c"

if [ "$SOAK" = 1 ]; then
cat > "$TMP/soakgen.c" <<'EOF'
/* soakgen DST RATE SECONDS NAMES: unanswered-by-design UDP DNS queries to DST:53 at RATE/s for
 * SECONDS. Query i goes out from source socket (i >> 16) % 64 with transaction id i & 0xffff, so
 * the (source port, id) pair is unique over 64 * 65536 = 4.2 M consecutive queries (far more
 * than the tracker's 10 s timeout at any sane rate); its qname is "s<i % NAMES>.soak.test".
 * Batches of up to 64 with sendmmsg, split where the source socket changes. Prints
 * "sent elapsed rate errors distinct_ports". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NSOCK 64
#define BATCH 64

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static size_t build(unsigned char *p, unsigned long i, long names) {
    p[0] = (unsigned char)(i >> 8); p[1] = (unsigned char)i;    /* id = i & 0xffff */
    p[2] = 0x01; p[3] = 0x00;                                   /* RD */
    p[4] = 0; p[5] = 1; memset(p + 6, 0, 6);                    /* qd=1 */
    size_t o = 12;
    char label[32];
    int n = snprintf(label, sizeof label, "s%lu", i % (unsigned long)names);
    p[o++] = (unsigned char)n; memcpy(p + o, label, n); o += n;
    p[o++] = 4; memcpy(p + o, "soak", 4); o += 4;
    p[o++] = 4; memcpy(p + o, "test", 4); o += 4;
    p[o++] = 0;
    p[o++] = 0; p[o++] = 1; p[o++] = 0; p[o++] = 1;             /* A IN */
    return o;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: soakgen DST RATE SECONDS NAMES\n"); return 2; }
    double rate = atof(argv[2]), secs = atof(argv[3]);
    long names = atol(argv[4]);
    if (names < 1) names = 1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(53);
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    int fds[NSOCK];
    unsigned short ports[NSOCK];
    for (int s = 0; s < NSOCK; s++) {
        fds[s] = socket(AF_INET, SOCK_DGRAM, 0);
        if (fds[s] < 0) { perror("socket"); return 1; }
        int sb = 1 << 20;
        setsockopt(fds[s], SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
        if (connect(fds[s], (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
        struct sockaddr_in l;
        socklen_t ll = sizeof l;
        getsockname(fds[s], (struct sockaddr *)&l, &ll);
        ports[s] = ntohs(l.sin_port);
    }
    int distinct = 0;
    for (int s = 0; s < NSOCK; s++) {
        int dup = 0;
        for (int t = 0; t < s; t++) if (ports[t] == ports[s]) dup = 1;
        if (!dup) distinct++;
    }

    static unsigned char q[BATCH][96];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    unsigned long i = 0;
    long sent = 0, errors = 0;
    double t0 = now(), el;
    while ((el = now() - t0) < secs) {
        long due = (long)(el * rate);
        if (sent >= due) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
            continue;
        }
        int want = due - sent > BATCH ? BATCH : (int)(due - sent);
        int sock = (int)((i >> 16) % NSOCK);
        int n = 0;
        memset(msgs, 0, sizeof(struct mmsghdr) * want);
        while (n < want && (int)(((i + n) >> 16) % NSOCK) == sock) {
            iov[n].iov_base = q[n];
            iov[n].iov_len = build(q[n], i + n, names);
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            n++;
        }
        int r = sendmmsg(fds[sock], msgs, n, 0);
        if (r < 0) {
            if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) { errors++; continue; }
            perror("sendmmsg");
            return 1;
        }
        sent += r;
        i += r;
    }
    el = now() - t0;
    printf("%ld %.3f %.0f %ld %d\n", sent, el, sent / el, errors, distinct);
    return 0;
}
EOF
gcc -O2 -Wall -o "$TMP/soakgen" "$TMP/soakgen.c"
fi

# --- the lab -------------------------------------------------------------------------------
ip netns add "$NSA"
ip netns add "$NSB"
for ns in "$NSA" "$NSB"; do
  ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
  ip -n "$ns" link set lo up
done
ip -n "$NSA" link add "$VA" type veth peer name "$VB" netns "$NSB"
ip -n "$NSA" addr add "$ADDR_A/30" dev "$VA"
ip -n "$NSB" addr add "$ADDR_B/30" dev "$VB"
ip -n "$NSA" link set "$VA" up
ip -n "$NSB" link set "$VB" up
ip netns exec "$NSB" nft -f - <<'EOF'
table inet bench {
    chain input {
        type filter hook input priority filter; policy accept;
        udp dport 53 drop
    }
}
EOF
for ns in "$NSA" "$NSB"; do
  [ -z "$(ip -n "$ns" -4 route show default)" ] || die "namespace $ns has a default route"
done

# Waits until a packet socket is open in namespace B (the capture is active), at most 10 s.
wait_capture() {
  local i
  for i in $(seq 1 200); do
    [ "$(ip netns exec "$NSB" cat /proc/net/packet | wc -l)" -gt 1 ] && { sleep 0.3; return 0; }
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# received / dropped of the live input, and the analysed packets, from a dnsaudit JSON report.
cat > "$TMP/facts.py" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
live = next(i for i in r["inputs"] if i.get("kind") == "live")
print(live.get("received", -1), live.get("dropped", -1), r["summary"].get("packets", -1))
EOF
# Drop percentage: libpcap on Linux counts every packet that passed the filter as received,
# the dropped ones included (analysed = received - dropped).
pct() { awk -v rx="$1" -v d="$2" 'BEGIN { if (rx > 0) printf "%.2f", 100.0 * d / rx; else print "-" }'; }

# --- soak mode -----------------------------------------------------------------------------
if [ "$SOAK" = 1 ]; then
  cat > "$TMP/soakfacts.py" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
live = next(i for i in r["inputs"] if i.get("kind") == "live")
s = r["summary"]
c = s.get("counters", {})
print(live.get("received", -1), live.get("dropped", -1), s.get("packets", -1), c.get("dns_queries", -1),
      s.get("unanswered_queries", -1), c.get("dns_evicted_transactions", -1),
      c.get("dns_retransmitted_queries", -1), s.get("dns_transactions", -1), s.get("dropped", -1),
      len(r.get("findings", [])))
EOF
  live_seconds=$((SOAK_SECONDS + 5))
  printf '\nsoak: %s queries/s for %s s (64 source ports x 65536 ids, %s rotating qnames), never answered;\n' \
    "$SOAK_RATE" "$SOAK_SECONDS" "$SOAK_NAMES"
  printf 'dnsaudit live -i %s --duration %s --format json --no-drop --quiet --filter '"'"'udp port 53'"'"'; VmRSS every 10 s.\n\n' \
    "$VB" "$live_seconds"
  ip netns exec "$NSB" "$DNSAUDIT" live -i "$VB" --duration "$live_seconds" \
    --format json --filter 'udp port 53' --no-drop --quiet > "$TMP/soak.json" 2> "$TMP/soak.err" &
  lp=$!
  PIDS+=("$lp")
  wait_capture "$lp" || die "dnsaudit live did not start capturing: $(cat "$TMP/soak.err")"
  ip netns exec "$NSA" "$TMP/soakgen" "$ADDR_B" "$SOAK_RATE" "$SOAK_SECONDS" "$SOAK_NAMES" > "$TMP/soakgen.out" 2> "$TMP/soakgen.err" &
  gp=$!
  PIDS+=("$gp")

  printf '%7s | %8s | %8s\n' 't(s)' 'RSS-MB' 'HWM-MB'
  printf '%s\n' '--------+----------+---------'
  samples_t=()
  samples_kb=()
  start_ns=$(date +%s%N)
  k=0
  while kill -0 "$lp" 2>/dev/null; do
    st="/proc/$lp/status"
    rss="$(awk '/^VmRSS/ {print $2}' "$st" 2>/dev/null || true)"
    hwm="$(awk '/^VmHWM/ {print $2}' "$st" 2>/dev/null || true)"
    [ -n "$rss" ] || break
    t=$(( ($(date +%s%N) - start_ns) / 1000000000 ))
    samples_t+=("$t")
    samples_kb+=("$rss")
    printf '%7s | %8s | %8s\n' "$t" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
      "$(awk -v k="${hwm:-0}" 'BEGIN { printf "%.1f", k / 1024 }')"
    k=$((k + 1))
    # Sleep to the next 10 s mark, waking early if dnsaudit ends.
    next_ns=$((start_ns + k * 10000000000))
    while kill -0 "$lp" 2>/dev/null && [ "$(date +%s%N)" -lt "$next_ns" ]; do sleep 0.2; done
  done
  grc=0
  wait "$gp" || grc=$?
  [ "$grc" = 0 ] || die "the soak generator exited $grc: $(cat "$TMP/soakgen.err")"
  rc=0
  wait "$lp" || rc=$?
  [ "$rc" -le 1 ] || die "dnsaudit live exited $rc: $(cat "$TMP/soak.err")"
  read -r g_sent g_el g_pps g_err g_ports < "$TMP/soakgen.out"
  read -r d_rx d_drop d_pk d_q d_unans d_evict d_retx d_tx d_sdrop d_find < <(python3 "$TMP/soakfacts.py" "$TMP/soak.json")

  echo
  printf 'generator: sent %s queries in %s s (%s/s), %s send errors, %s distinct source ports\n' \
    "$g_sent" "$g_el" "$g_pps" "$g_err" "$g_ports"
  printf 'dnsaudit live (exit %s): libpcap received %s, dropped %s (%s%%); packets analysed %s\n' \
    "$rc" "$d_rx" "$d_drop" "$(pct "$d_rx" "$d_drop")" "$d_pk"
  printf 'report: dns_queries %s, unanswered_queries %s, dns_evicted_transactions %s, dns_retransmitted_queries %s,\n' \
    "$d_q" "$d_unans" "$d_evict" "$d_retx"
  printf '        dns_transactions (answered) %s, summary.dropped %s, findings %s\n' "$d_tx" "$d_sdrop" "$d_find"
  n=${#samples_kb[@]}
  [ "$n" -gt 0 ] || die "no RSS sample taken"
  min=${samples_kb[0]}; max=${samples_kb[0]}; last=${samples_kb[$((n - 1))]}
  ref=""; ref_t=""
  for idx in "${!samples_kb[@]}"; do
    v=${samples_kb[$idx]}
    [ "$v" -lt "$min" ] && min=$v
    [ "$v" -gt "$max" ] && max=$v
    if [ -z "$ref" ] && [ "${samples_t[$idx]}" -ge 60 ]; then ref=$v; ref_t=${samples_t[$idx]}; fi
  done
  mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
  printf 'RSS: min %s MB, max %s MB, last %s MB (%s samples)\n' "$(mb "$min")" "$(mb "$max")" "$(mb "$last")" "$n"
  if [ -z "$ref" ]; then
    echo "verdict: n/a (the run ended before 60 s; no sample after the first minute)"
  else
    lo=$ref; hi=$ref
    for idx in "${!samples_kb[@]}"; do
      [ "${samples_t[$idx]}" -ge 60 ] || continue
      v=${samples_kb[$idx]}
      [ "$v" -lt "$lo" ] && lo=$v
      [ "$v" -gt "$hi" ] && hi=$v
    done
    verdict="$(awk -v r="$ref" -v lo="$lo" -v hi="$hi" 'BEGIN { print (lo >= 0.9 * r && hi <= 1.1 * r) ? "flat" : "grows" }')"
    printf 'after the first minute (reference: %s MB at %s s; samples from there on ranged %s .. %s MB, %s%% .. %s%%)\n' \
      "$(mb "$ref")" "$ref_t" "$(mb "$lo")" "$(mb "$hi")" \
      "$(awk -v r="$ref" -v v="$lo" 'BEGIN { printf "%+.1f", 100.0 * (v - r) / r }')" \
      "$(awk -v r="$ref" -v v="$hi" 'BEGIN { printf "%+.1f", 100.0 * (v - r) / r }')"
    echo "verdict: $verdict (every sample from 60 s on within +-10% of the 60 s sample)"
  fi
  exit 0
fi

have_time=0
[ -x /usr/bin/time ] && have_time=1

printf '\nrate: target packets/s for %s s; gen/s: achieved by the generator. dnsaudit live: libpcap received (drops\n' "$LOAD_SECONDS"
printf 'included) / dropped by the kernel, packets analysed, peak RSS. tcpdump -w /dev/null: received by filter / dropped\n'
printf 'by kernel. Both: 16 MiB buffer, snap length 262144, filter udp port 53, run one after the other.\n\n'
printf '%8s | %7s | %9s | %10s %9s %7s %10s %8s |\n' rate threads gen/s received dropped drop% analysed RSS-MB
printf '%s\n' "---------+---------+-----------+----------------------------------------------------+"

best_tcpdump=none
declare -A best_dnsaudit
for n in $THREADS; do best_dnsaudit[$n]=none; done
for rate in $RATES; do
 for n in $THREADS; do
  # 1. dnsaudit live --threads n
  if [ "$have_time" = 1 ]; then
    ip netns exec "$NSB" /usr/bin/time -v -o "$TMP/time-$rate" "$DNSAUDIT" live -i "$VB" --duration "$LIVE_SECONDS" \
      --threads "$n" --format json --filter 'udp port 53' --no-drop --quiet > "$TMP/live-$rate.json" 2> "$TMP/live-$rate.err" &
  else
    ip netns exec "$NSB" "$DNSAUDIT" live -i "$VB" --duration "$LIVE_SECONDS" \
      --threads "$n" --format json --filter 'udp port 53' --no-drop --quiet > "$TMP/live-$rate.json" 2> "$TMP/live-$rate.err" &
  fi
  lp=$!
  PIDS+=("$lp")
  wait_capture "$lp" || die "dnsaudit live did not start capturing: $(cat "$TMP/live-$rate.err")"
  hwm=0
  gen1="$(ip netns exec "$NSA" "$TMP/gen" "$ADDR_B" "$rate" "$LOAD_SECONDS")"
  if [ "$have_time" = 0 ]; then
    # Peak RSS from the kernel's high-water mark, sampled until the process ends.
    while kill -0 "$lp" 2>/dev/null; do
      h="$(awk '/^VmHWM/ {print $2}' "/proc/$lp/status" 2>/dev/null || true)"
      [ -n "$h" ] && hwm="$h"
      sleep 0.1
    done
  fi
  rc=0
  wait "$lp" || rc=$?
  [ "$rc" -le 1 ] || die "dnsaudit live exited $rc: $(cat "$TMP/live-$rate.err")"
  if [ "$have_time" = 1 ]; then
    hwm="$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$TMP/time-$rate")"
  fi
  read -r d_rx d_drop d_pk < <(python3 "$TMP/facts.py" "$TMP/live-$rate.json")
  read -r g1_sent _ g1_pps _ <<< "$gen1"
  printf '%8s | %7s | %9s | %10s %9s %7s %10s %8s |\n' \
    "$rate" "$n" "$g1_pps" "$d_rx" "$d_drop" "$(pct "$d_rx" "$d_drop")" "$d_pk" "$((hwm / 1024))"
  [ "$d_drop" = 0 ] && best_dnsaudit[$n]="$rate (achieved $g1_pps/s)"
 done

  # 2. tcpdump on the same traffic
  ip netns exec "$NSB" tcpdump -i "$VB" -w /dev/null -n -B 16384 -s 262144 'udp port 53' 2> "$TMP/tcpdump-$rate.err" &
  tp=$!
  PIDS+=("$tp")
  wait_capture "$tp" || die "tcpdump did not start capturing: $(cat "$TMP/tcpdump-$rate.err")"
  gen2="$(ip netns exec "$NSA" "$TMP/gen" "$ADDR_B" "$rate" "$LOAD_SECONDS")"
  sleep 0.5
  kill -INT "$tp"
  wait "$tp" || true
  t_rx="$(awk '/packets received by filter/ {print $1}' "$TMP/tcpdump-$rate.err")"
  t_drop="$(awk '/packets dropped by kernel/ {print $1}' "$TMP/tcpdump-$rate.err")"

  read -r g2_sent _ g2_pps _ <<< "$gen2"
  printf '%8s | %7s | %9s | %10s %9s %7s %10s %8s |\n' \
    "$rate" tcpdump "$g2_pps" "$t_rx" "$t_drop" "$(pct "$t_rx" "$t_drop")" - -
  [ "$t_drop" = 0 ] && best_tcpdump="$rate (achieved $g2_pps/s)"
done

echo
echo "highest target rate with zero kernel drops:"
for n in $THREADS; do echo "  dnsaudit live --threads $n: ${best_dnsaudit[$n]}"; done
echo "  tcpdump -w /dev/null: $best_tcpdump"
echo "(dnsaudit live decodes and analyses every packet; tcpdump -w /dev/null only copies them out of the ring."
echo " Where gen/s is below the target, the generator itself is the limit: on a veth the receive path runs on the"
echo " sender's CPU, so the sender saturates first.)"
