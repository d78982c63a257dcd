#!/usr/bin/env bash
# CI's package step (root): build the .deb, install it with apt, check what it installed, run the
# demo, purge it and check that nothing is left. Also by hand: sudo packaging/ci-package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "ci-package: needs root (apt-get install / purge); skipped"; exit 0; }
export DEBIAN_FRONTEND=noninteractive
fail() { echo "ci-package: FAIL: $*" >&2; exit 1; }

# lintian checks the package, patchelf drops the toolchain's RUNPATH, man-db answers man -w.
apt-get install -y -q --no-install-recommends lintian patchelf man-db >/dev/null

start=$(date +%s)
if [ -n "${DNSAUDIT_DEB:-}" ]; then
  DEB=$DNSAUDIT_DEB                      # an already built package (by hand)
else
  DEB=$(./scripts/package-deb.sh dist | tail -1)
fi
echo "built $DEB in $(( $(date +%s) - start )) s ($(du -h "$DEB" | cut -f1))"
dpkg-deb --info "$DEB" | sed -n 's/^ \(Depends\|Installed-Size\):/  \1:/p'

# A user left from an earlier run must not hide a postinst that does not create it.
if getent passwd dnsaudit >/dev/null; then fail "a dnsaudit user exists before the install"; fi
apt-get install -y -q "$(realpath "$DEB")" >/dev/null

echo "installed: $(dnsaudit --version)"
[ "$(command -v dnsaudit)" = /usr/bin/dnsaudit ] || fail "dnsaudit is not /usr/bin/dnsaudit"
man -w dnsaudit || fail "no man page for dnsaudit"
man -w dnsaudit-audit >/dev/null || fail "no man page for dnsaudit-audit"
for f in /usr/share/bash-completion/completions/dnsaudit /usr/share/zsh/vendor-completions/_dnsaudit \
         /usr/share/fish/vendor_completions.d/dnsaudit.fish /etc/dnsaudit/policy.toml; do
  [ -s "$f" ] || fail "missing $f"
done
dpkg-query -W -f='${Conffiles}\n' dnsaudit | grep -q /etc/dnsaudit/policy.toml || fail "policy.toml is not a conffile"
getent passwd dnsaudit >/dev/null || fail "postinst did not create the dnsaudit user"
systemd-analyze verify /usr/lib/systemd/system/dnsaudit-audit.service /usr/lib/systemd/system/dnsaudit-audit.timer \
  || fail "systemd-analyze verify"
if [ -e /etc/systemd/system/timers.target.wants/dnsaudit-audit.timer ]; then fail "the timer is enabled on install"; fi
# The installed units run what --print-systemd prints.
dnsaudit audit --print-systemd | grep -q '^ExecStart=/usr/bin/dnsaudit audit --policy /etc/dnsaudit/policy.toml ' \
  || fail "--print-systemd does not name /usr/bin/dnsaudit and /etc/dnsaudit/policy.toml"
# The packaged policy parses and its outputs can be written (nothing is examined: every part is
# disabled, so no traffic; the verdict is inconclusive, exit 0).
dnsaudit audit --policy /etc/dnsaudit/policy.toml --no-rules --no-probe --no-capture --quiet >/dev/null \
  || fail "the packaged policy does not run: exit $?"
[ -s /var/lib/dnsaudit/report.json ] || fail "the packaged policy's JSON output was not written"
# The demo: a planted injection, exit 1 with the finding.
set +e
out=$(dnsaudit analyze --format json /usr/share/doc/dnsaudit/examples/dns-injection.pcap); rc=$?
set -e
[ "$rc" = 1 ] || fail "analyze of the demo capture exited $rc"
echo "$out" | grep -q '"kind" *: *"dns.injection"' || fail "the demo's injection is not reported"
echo "installed binary: analyze of the demo capture exits 1 with dns.injection"

apt-get purge -y -q dnsaudit >/dev/null
for f in /usr/bin/dnsaudit /etc/dnsaudit /usr/lib/systemd/system/dnsaudit-audit.service /var/lib/dnsaudit; do
  [ ! -e "$f" ] || fail "$f is left after purge"
done
if getent passwd dnsaudit >/dev/null; then fail "the dnsaudit user is left after purge"; fi
dpkg -s dnsaudit >/dev/null 2>&1 && fail "dpkg still knows dnsaudit after purge"
echo "package: built, installed, verified, purged in $(( $(date +%s) - start )) s"
