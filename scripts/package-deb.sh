#!/usr/bin/env bash
# Builds the Debian package: scripts/package-deb.sh [OUTDIR]   (default OUTDIR: dist/)
#
#   /usr/bin/dnsaudit                          release build, Swift runtime and Foundation linked
#                                              statically (--static-swift-stdlib), stripped
#   /usr/share/man/man1/dnsaudit*.1.gz         from the argument parser (swift-argument-parser's
#                                              generate-manual tool, the one its plugin runs)
#   bash / zsh / fish completions              from 'dnsaudit --generate-completion-script'
#   /usr/lib/systemd/system/dnsaudit-audit.{service,timer}   installed disabled
#   /etc/dnsaudit/policy.toml                  conffile: rules/policy.example.toml, capture as 'dnsaudit'
#   /usr/share/dnsaudit/prometheus/            the alerting rules (rules/prometheus/dnsaudit.rules.yml)
#   postinst                                   creates the system user 'dnsaudit' (like tcpdump's)
#
# The last line printed is the path of the .deb. Environment:
#   SCRATCH_PATH   SwiftPM scratch path for the release build (default: .build)
#   DNSAUDIT_BIN   use this already built release binary instead of building one
#   GENERATE_MANUAL  use this built generate-manual tool instead of building it
#   SKIP_LINTIAN=1 do not run lintian (it runs when installed; an error fails the script)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUTDIR=${1:-dist}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
SCRATCH=${SCRATCH_PATH:-$ROOT/.build}

say() { echo "package-deb: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { say "needs $1 ($2)"; exit 2; }; }
need dpkg-deb "apt-get install dpkg"
need strip "apt-get install binutils"
need gzip "apt-get install gzip"

# 1. The binary.
if [ -n "${DNSAUDIT_BIN:-}" ]; then
  BIN=$DNSAUDIT_BIN
else
  say "release build (static Swift runtime) into $SCRATCH"
  swift build -c release --static-swift-stdlib --product dnsaudit --scratch-path "$SCRATCH" >&2
  BIN=$SCRATCH/release/dnsaudit
fi
[ -x "$BIN" ] || { say "no binary at $BIN"; exit 2; }
VERSION=$("$BIN" --version)
case "$VERSION" in
  [0-9]*) ;;
  *) say "unexpected version '$VERSION' from $BIN"; exit 2 ;;
esac

# 2. The man page tool: swift-argument-parser's generate-manual (what 'swift package plugin
# generate-manual' runs), built from the package's own resolved checkout: works offline.
GENMAN=${GENERATE_MANUAL:-}
if [ -z "$GENMAN" ]; then
  say "building generate-manual"
  swift build --product generate-manual --scratch-path "$SCRATCH" >&2
  GENMAN=$SCRATCH/debug/generate-manual
fi

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/dnsaudit-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
PKG=$STAGE/pkg
install -d -m 755 "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/usr/share/man/man1" "$PKG/usr/share/doc/dnsaudit" \
  "$PKG/usr/lib/systemd/system" "$PKG/etc/dnsaudit" \
  "$PKG/usr/share/bash-completion/completions" "$PKG/usr/share/zsh/vendor-completions" \
  "$PKG/usr/share/fish/vendor_completions.d"

install -m 755 "$BIN" "$PKG/usr/bin/dnsaudit"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$PKG/usr/bin/dnsaudit"
# The toolchain's library directory is not on the fleet's machines: no RUNPATH (Debian policy).
if command -v patchelf >/dev/null 2>&1; then
  patchelf --remove-rpath "$PKG/usr/bin/dnsaudit"
elif command -v chrpath >/dev/null 2>&1; then
  chrpath -d "$PKG/usr/bin/dnsaudit" >/dev/null
else
  say "needs patchelf (apt-get install patchelf) to drop the toolchain's RUNPATH"; exit 2
fi
# It must run without the toolchain: the Swift runtime and Foundation are inside.
if ! "$PKG/usr/bin/dnsaudit" --version >/dev/null 2>&1; then
  say "the stripped binary does not run without the toolchain (not built with --static-swift-stdlib?)"
  [ "${ALLOW_DYNAMIC:-0}" = 1 ] || exit 2
fi

# Reproducible dates: the last commit's.
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
DAY=$(date -u -d "@$EPOCH" +%Y-%m-%d)
RFC2822=$(date -u -R -d "@$EPOCH")

# 3. Man pages: dnsaudit(1) and one per subcommand, named like git's: dnsaudit-analyze(1).
MAN=$STAGE/man
mkdir -p "$MAN"
"$GENMAN" "$BIN" --multi-page --date "$DAY" --output-directory "$MAN" >&2
for page in "$MAN"/*.1; do
  name=$(basename "$page" .1)             # dnsaudit, dnsaudit.analyze, …
  dashed=${name//./-}
  upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
  dashed_upper=$(echo "$dashed" | tr '[:lower:]' '[:upper:]')
  spaced=${name//./ }
  # NAME gets the page's one-word name (for whatis / apropos), the synopsis keeps the command as
  # typed ("dnsaudit analyze"); cross references use the dashed page names; no empty lines (groff).
  awk -v upper="$upper" -v dashed_upper="$dashed_upper" -v dashed="$dashed" -v spaced="$spaced" '
    /^$/ { next }
    $0 == ".Dt " upper " 1" { print ".Dt " dashed_upper " 1"; next }
    /^\.Nm / && !named { print ".Nm " dashed; named = 1; next }
    $0 == ".Nm" { print ".Nm \"" spaced "\""; next }
    { gsub(/^\.Xr dnsaudit\./, ".Xr dnsaudit-"); gsub(/—/, "\\(em"); gsub(/…/, "..."); gsub(/→/, "\\(->"); print }
  ' "$page" > "$STAGE/$dashed.1"
  gzip -9n -c "$STAGE/$dashed.1" > "$PKG/usr/share/man/man1/$dashed.1.gz"
done
[ -f "$PKG/usr/share/man/man1/dnsaudit.1.gz" ] || { say "generate-manual made no dnsaudit.1"; exit 2; }

# 4. Completions.
# (bash-completion sources the file: no '#!' line.)
"$BIN" --generate-completion-script bash | sed '1{/^#!/d}' > "$PKG/usr/share/bash-completion/completions/dnsaudit"
"$BIN" --generate-completion-script zsh > "$PKG/usr/share/zsh/vendor-completions/_dnsaudit"
"$BIN" --generate-completion-script fish > "$PKG/usr/share/fish/vendor_completions.d/dnsaudit.fish"

# 5. Units, policy, docs.
install -m 644 packaging/systemd/dnsaudit-audit.service packaging/systemd/dnsaudit-audit.timer "$PKG/usr/lib/systemd/system/"
# The packaged policy: the annotated example, with the capture dropping to the package's user.
# The Prometheus output waits for node_exporter: its textfile directory (Debian's
# prometheus-node-exporter: /var/lib/prometheus/node-exporter) must exist, since the audit checks
# every destination before it starts. /var/lib/dnsaudit is the package's.
sed -e 's/^user = "root" *#.*$/user = "dnsaudit"        # drop to this user for the capture (the package creates it); outputs it cannot create are opened before the drop/' \
    -e 's|^prometheus = "/var/lib/node_exporter/textfile_collector/dnsaudit.prom"$|# prometheus = "/var/lib/prometheus/node-exporter/dnsaudit.prom"   # uncomment with prometheus-node-exporter installed (its textfile directory); see /usr/share/doc/dnsaudit/fleet.md.gz|' \
  rules/policy.example.toml > "$PKG/etc/dnsaudit/policy.toml"
grep -q '^user = "dnsaudit"' "$PKG/etc/dnsaudit/policy.toml" || { say "policy.example.toml has no 'user = \"root\"' line to adapt"; exit 2; }
grep -q '^# prometheus = "/var/lib/prometheus/node-exporter/dnsaudit.prom"' "$PKG/etc/dnsaudit/policy.toml" || { say "policy.example.toml's prometheus output line changed: adapt package-deb.sh"; exit 2; }
if grep -v '^ *#' "$PKG/etc/dnsaudit/policy.toml" | grep -o '"/[^"]*"' | tr -d '"' | grep -v '^/var/lib/dnsaudit/\|^/etc/dnsaudit/' | grep -q '^/var\|^/srv'; then
  say "the packaged policy writes outside /var/lib/dnsaudit: check package-deb.sh"; exit 2
fi
install -d -m 755 "$PKG/var/lib/dnsaudit"
chmod 644 "$PKG/etc/dnsaudit/policy.toml"
install -m 644 packaging/debian/copyright "$PKG/usr/share/doc/dnsaudit/copyright"
install -d -m 755 "$PKG/usr/share/lintian/overrides"
install -m 644 packaging/debian/lintian-overrides "$PKG/usr/share/lintian/overrides/dnsaudit"
sed -e "s/@VERSION@/$VERSION/" -e "s/@DATE@/$RFC2822/" packaging/debian/changelog | gzip -9n > "$PKG/usr/share/doc/dnsaudit/changelog.gz"
gzip -9n -c README.md > "$PKG/usr/share/doc/dnsaudit/README.md.gz"
[ -f docs/fleet.md ] && gzip -9n -c docs/fleet.md > "$PKG/usr/share/doc/dnsaudit/fleet.md.gz"
# The demo capture of the README's quick start (a planted DNS injection).
install -d -m 755 "$PKG/usr/share/doc/dnsaudit/examples"
install -m 644 captures/dns-injection.pcap "$PKG/usr/share/doc/dnsaudit/examples/"
# Prometheus alerting rules (for the Prometheus server, not this host): /usr/share/dnsaudit/prometheus.
if [ -f rules/prometheus/dnsaudit.rules.yml ]; then
  install -d -m 755 "$PKG/usr/share/dnsaudit/prometheus"
  install -m 644 rules/prometheus/dnsaudit.rules.yml "$PKG/usr/share/dnsaudit/prometheus/"
fi
install -m 644 packaging/debian/conffiles "$PKG/DEBIAN/conffiles"
install -m 755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$PKG/DEBIAN/"

# 6. Dependencies of the binary (libpcap, libnftables, libc …), from dpkg-shlibdeps.
DEPENDS=""
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
  mkdir -p "$STAGE/src/debian"
  printf 'Source: dnsaudit\n\nPackage: dnsaudit\nArchitecture: amd64\n' > "$STAGE/src/debian/control"
  DEPENDS=$(cd "$STAGE/src" && dpkg-shlibdeps -O "$PKG/usr/bin/dnsaudit" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
fi
if [ -z "$DEPENDS" ]; then
  DEPENDS="libc6 (>= 2.34), libgcc-s1 (>= 3.0), libstdc++6 (>= 12), libpcap0.8 (>= 1.10), libnftables1 (>= 1.0.6), zlib1g (>= 1:1.2), libngtcp2-9 (>= 0.12), libngtcp2-crypto-gnutls2 (>= 0.12), libgnutls30 (>= 3.7.5), libnghttp3-3 (>= 0.8)"
fi
DEPENDS="$DEPENDS, adduser"

# md5sums, sizes, control.
(cd "$PKG" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$PKG/DEBIAN/md5sums"
chmod 644 "$PKG/DEBIAN/md5sums"
SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@INSTALLED_SIZE@/$SIZE/" -e "s/@DEPENDS@/$DEPENDS/" packaging/debian/control.in > "$PKG/DEBIAN/control"
chmod 644 "$PKG/DEBIAN/control"
find "$PKG" -type d -exec chmod 755 {} +
find "$PKG" -exec touch -h -d "@$EPOCH" {} +

DEB=$OUTDIR/dnsaudit_${VERSION}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >&2

if [ "${SKIP_LINTIAN:-0}" != 1 ] && command -v lintian >/dev/null 2>&1; then
  say "lintian"
  # Errors fail the build; warnings are shown.
  if ! lintian --fail-on error "$DEB" >&2; then
    say "lintian reports errors"
    exit 1
  fi
fi
say "$(du -h "$DEB" | cut -f1) — $(du -h "$PKG/usr/bin/dnsaudit" | cut -f1) binary"
echo "$DEB"
