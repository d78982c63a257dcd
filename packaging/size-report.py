#!/usr/bin/env python3
"""What each dependency costs in the dnsaudit binary: packaging/size-report.py BINARY (unstripped).

Attributes every sized symbol of the binary (`nm -S`) to a component: Swift symbols by the module
in their mangled name, C/C++ symbols by their prefixes (BoringSSL, zlib, ICU, toml++, the Swift
runtime); the rest is "other". Prints the totals per component and per package, largest first,
plus the section sizes that symbols do not cover (ICU's data, debug info). It approximates what
would go away with a dependency: code that two components share stays.
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict

PACKAGES = {
    "swift-nio": ["NIO", "NIOCore", "NIOPosix", "NIOEmbedded", "NIOConcurrencyHelpers", "NIOHTTP1", "NIOTLS", "NIOHTTP2",
                  "NIOHPACK", "NIOSOCKS", "NIOExtras", "NIOHTTPCompression", "NIOFoundationCompat", "_NIODataStructures",
                  "_NIOBase64", "NIOTransportServices", "CNIOLinux", "CNIOPosix", "CNIOAtomics", "CNIOLLHTTP", "NIOCertificateHotReloading",
                  "NIOPCAP", "NIOResumableUpload", "NIONFS3", "CNIOExtrasZlib", "_NIOFileSystem", "NIOFileSystem"],
    "swift-nio-ssl": ["NIOSSL", "CNIOBoringSSL", "CNIOBoringSSLShims"],
    "async-http-client": ["AsyncHTTPClient"],
    "swift-crypto / BoringSSL": ["Crypto", "_CryptoExtras", "CryptoExtras", "CCryptoBoringSSL", "CCryptoBoringSSLShims", "CryptoBoringWrapper"],
    "swift-certificates / asn1": ["X509", "SwiftASN1", "_CertificateInternals"],
    "swift-argument-parser": ["ArgumentParser", "ArgumentParserToolInfo"],
    "TOMLKit / toml++": ["TOMLKit", "CTOML"],
    "swift-log / metrics / tracing / service": ["Logging", "Metrics", "Tracing", "Instrumentation", "ServiceContextModule",
                                                "ServiceLifecycle", "UnixSignals", "Configuration"],
    "swift-collections / algorithms / atomics / system": ["Collections", "DequeModule", "OrderedCollections", "HeapModule",
                                                          "BitCollections", "HashTreeCollections", "_RopeModule", "InternalCollectionsUtilities",
                                                          "Algorithms", "Atomics", "_AtomicsShims", "SystemPackage", "CSystem",
                                                          "AsyncAlgorithms", "RealModule", "_NumericsShims", "BasicContainers",
                                                          "ContainersPreview", "HTTPTypes", "StructuredFieldValues", "SynchronizationShims"],
    "Foundation (full)": ["Foundation", "CoreFoundation", "FoundationInternationalization", "_FoundationICU", "FoundationNetworking"],
    "FoundationEssentials": ["FoundationEssentials", "_FoundationCShims", "_FoundationCollections"],
    "Swift runtime and stdlib (with libdispatch)": ["Swift", "_Concurrency", "_StringProcessing", "_RegexParser", "Synchronization", "Dispatch",
                                 "Glibc", "SwiftGlibc", "SwiftShims", "_SwiftConcurrencyShims", "swift", "SwiftOnoneSupport", "Observation",
                                 "Distributed"],
}
OWN = "dnsaudit (own modules)"
PREFIXES = [  # C / C++ symbol prefixes → package
    (re.compile(r"CNIOBoringSSL"), "swift-nio-ssl"),
    (re.compile(r"CCryptoBoringSSL|Keccak"), "swift-crypto / BoringSSL"),
    (re.compile(r"^(deflate|inflate|crc32|adler32|zcalloc|zcfree|_tr_|z_|zError|zlibVersion|compress|uncompress|gz)|^CNIOExtrasZlib"), "swift-nio (zlib in swift-nio-extras)"),
    (re.compile(r"icu_\d+|icudt|^_ZL\d*(u[a-z]+_props|props|ubidi|ucase|unames)|_\d\d$|^u[a-z]*_\w+_\d+$|^ucal_|^udat_|^unum_|^ures_|^ucol_|^ubrk_|^ICU|^icudt"), "Foundation ICU (_FoundationICU)"),
    (re.compile(r"^_ZN\d*toml|toml"), "TOMLKit / toml++"),
    (re.compile(r"^(swift_|_swift_|__swift|\$ss|_swift|swift::|_ZN5swift|_ZL\d+_swift|_ZN12_GLOBAL__N_1\d+swift|_dispatch|dispatch_)"), "Swift runtime and stdlib (with libdispatch)"),
    (re.compile(r"^(CF|__CF|_CF|kCF)"), "Foundation (full)"),
    (re.compile(r"^(pcap_|nft_|NFT)"), "system libraries (stubs)"),
    (re.compile(r"^llhttp_|^_?c_nio_"), "swift-nio"),
]


def module_of(sym: str) -> str | None:
    m = re.match(r"^\$s(?:So)?(\d+)([A-Za-z_][A-Za-z0-9_]*)", sym)
    if not m:
        return None
    n = int(m.group(1))
    return m.group(2)[:n]


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    own_modules = set()
    out = subprocess.run(["nm", "-S", "--size-sort", binary], capture_output=True, text=True, check=True).stdout
    by_pkg: dict[str, int] = defaultdict(int)
    by_module: dict[str, int] = defaultdict(int)
    module_pkg = {m: p for p, ms in PACKAGES.items() for m in ms}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        size = int(parts[1], 16)
        sym = parts[3]
        mod = module_of(sym)
        if mod is not None:
            pkg = module_pkg.get(mod)
            if pkg is None:
                pkg = OWN
                own_modules.add(mod)
            by_module[mod] += size
            by_pkg[pkg] += size
            continue
        for rx, pkg in PREFIXES:
            if rx.search(sym):
                by_pkg[pkg] += size
                break
        else:
            by_pkg["other (C/C++ without a known prefix)"] += size
    sections = subprocess.run(["size", "-A", binary], capture_output=True, text=True, check=True).stdout
    sec = {}
    for line in sections.splitlines():
        p = line.split()
        if len(p) >= 2 and p[0].startswith(".") and p[1].isdigit():
            sec[p[0]] = int(p[1])
    total_alloc = sum(v for k, v in sec.items() if not k.startswith(".debug") and k not in (".comment", ".symtab", ".strtab"))
    debug = sum(v for k, v in sec.items() if k.startswith(".debug"))
    mib = lambda n: f"{n / 1048576:8.1f} MiB"  # noqa: E731
    print(f"binary {binary}: loaded sections {mib(total_alloc)} (what stays after strip), debug info {mib(debug)}")
    print(f"sized symbols, per package ({mib(sum(by_pkg.values()))} in all):")
    for pkg, size in sorted(by_pkg.items(), key=lambda kv: -kv[1]):
        print(f"  {mib(size)}  {pkg}")
    print("largest modules:")
    for mod, size in sorted(by_module.items(), key=lambda kv: -kv[1])[:25]:
        print(f"  {mib(size)}  {mod}{'  (own)' if mod in own_modules else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
