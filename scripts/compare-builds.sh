#!/usr/bin/env bash
# Compares two dnsaudit builds on every capture in captures/ and ../shared/captures-real/:
# `analyze --format json` (minus generated_at) and the whole `decode` output, byte for byte.
# Usage: scripts/compare-builds.sh OLD-DNSAUDIT NEW-DNSAUDIT [OUTDIR]
# Prints one line per capture that differs (with the first differing lines in OUTDIR) and a total.
set -uo pipefail
old=${1:?old dnsaudit}; new=${2:?new dnsaudit}; out=${3:-$(mktemp -d)}
cd "$(dirname "$0")/.."
mkdir -p "$out"
caps=$(ls captures/*.pcap 2>/dev/null; [ -f ../shared/captures-real/MANIFEST.tsv ] && tail -n +2 ../shared/captures-real/MANIFEST.tsv | cut -f1 | sed 's|^|../shared/captures-real/|')
n=0; same=0
for c in $caps; do
  n=$((n+1)); key=$(echo "$c" | tr '/' '_')
  for mode in analyze decode; do
    for side in old new; do
      bin=$old; [ $side = new ] && bin=$new
      if [ $mode = analyze ]; then
        "$bin" analyze --format json "$c" 2>/dev/null | python3 -c 'import json,sys
r=json.load(sys.stdin); r.pop("generated_at",None); print(json.dumps(r,indent=1,sort_keys=True))' > "$out/$key.$mode.$side" 2>/dev/null
      else
        "$bin" decode "$c" > "$out/$key.$mode.$side" 2>/dev/null
      fi
    done
    if ! cmp -s "$out/$key.$mode.old" "$out/$key.$mode.new"; then
      diff "$out/$key.$mode.old" "$out/$key.$mode.new" > "$out/$key.$mode.diff"
      echo "DIFFERS $mode $c ($(grep -c '^[<>]' "$out/$key.$mode.diff") lines; $out/$key.$mode.diff)"
    else
      same=$((same+1))
    fi
  done
done
echo "$n captures, $((n*2)) outputs, $same identical ($out)"
