"""Ground truth from the wire (tshark on the client's capture) and the rulesets (nft JSON,
iptables-legacy-save) — never from dnsaudit.

An expected finding is a dict: {"kind", "subject": {key: value}, "modes": [...], "why"}.
A subject key may be "a|b": the finding matches when either key carries the value.
"""
from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

DNS_PORTS = {53, 853}
TLS_PORTS = {443}
PRIVATE_NETS = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")]


def expect(kind: str, subject: dict, modes: list[str], why: str) -> dict:
    return {"kind": kind, "subject": {k: str(v) for k, v in subject.items()}, "modes": list(modes), "why": why}


def norm_name(n: str) -> str:
    return n.rstrip(".").lower()


def norm_addr(a: str) -> str:
    try:
        return str(ipaddress.ip_address(a.strip("[]")))
    except ValueError:
        return a


def is_private(a: str) -> bool:
    try:
        ip = ipaddress.ip_address(a)
    except ValueError:
        return False
    return any(ip in n for n in PRIVATE_NETS)


def same_prefix(a: str, b: str) -> bool:
    ia, ib = ipaddress.ip_address(a), ipaddress.ip_address(b)
    if ia.version != ib.version:
        return False
    plen = 24 if ia.version == 4 else 48
    return ipaddress.ip_network(f"{a}/{plen}", strict=False) == ipaddress.ip_network(f"{b}/{plen}", strict=False)


# extra ports to decode as DNS (a scenario's local forwarder on a non-standard port)
DECODE_AS: list[int] = []


def tshark_fields(pcap: Path, display_filter: str, fields: list[str]) -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", str(pcap)]
    for port in DECODE_AS:
        cmd += ["-d", f"udp.port=={port},dns", "-d", f"tcp.port=={port},dns"]
    cmd += ["-Y", display_filter, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"tshark failed: {r.stderr.strip()}")
    rows = []
    for line in r.stdout.splitlines():
        parts = line.split("\t")
        parts += [""] * (len(fields) - len(parts))
        rows.append(parts)
    return rows


# ---------------------------------------------------------------- DNS on the wire
def dns_responses(pcap: Path) -> list[dict]:
    fields = ["frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "udp.srcport", "tcp.srcport", "udp.dstport",
              "tcp.dstport", "dns.id", "dns.qry.name", "dns.qry.type", "dns.qry.class", "dns.flags.rcode", "dns.a", "dns.aaaa",
              "dns.txt", "dns.count.answers", "dns.flags.truncated"]
    out = []
    for row in tshark_fields(pcap, "dns.flags.response == 1 and not icmp and not icmpv6", fields):
        (fr, s4, s6, d4, d6, us, ts, ud, td, txid, qn, qt, qc, rc, a, aaaa, txt, anc, tc) = row
        if "," in txid:   # several DNS messages in one TCP segment: rare with dig, skipped
            continue
        if tc in ("1", "True"):   # truncated: the client retries over TCP; no answer to judge
            continue
        sport = us or ts
        if sport not in ["53"] + [str(p) for p in DECODE_AS]:
            continue
        out.append({
            "frame": int(fr), "resolver": norm_addr(s4 or s6), "client": norm_addr(d4 or d6),
            "client_port": ud or td, "transport": "udp" if us else "tcp", "id": txid,
            "qname": norm_name(qn), "qtype": {"1": "A", "28": "AAAA", "16": "TXT"}.get(qt, qt), "qclass": qc,
            "rcode": int(rc or 0),
            "addrs": sorted(set(norm_addr(x) for x in (a.split(",") if a else []) + (aaaa.split(",") if aaaa else []))),
            "txt": txt,
        })
    return out


def reference_answer(ref_lookup, qname: str, qtype: str) -> dict | None:
    return ref_lookup(qname, qtype)


def classify_answer(path: dict, ref: dict) -> tuple[str | None, str]:
    """Returns (expected kind or None, why). `path`/`ref`: {"rcode", "addrs"}."""
    pa, ra = set(path["addrs"]), set(ref["addrs"])
    if ref["rcode"] not in (0, 3):
        return None, f"reference rcode {ref['rcode']}: no verdict"
    if ref["rcode"] == 3:
        if path["rcode"] == 3 or not pa:
            return None, "both say the name does not exist (or no address)"
        if all(is_private(a) for a in pa):
            return None, f"references: NXDOMAIN; path: private {sorted(pa)} (split horizon, tolerated)"
        return "dns.nxdomain-rewrite", f"references: NXDOMAIN; path: {sorted(pa)}"
    # the reference has the name
    if not ra:
        if pa:
            return "dns.answer-mismatch", f"references: no address; path: {sorted(pa)}"
        return None, "both: no address"
    if path["rcode"] != 0 or not pa:
        return "dns.answer-mismatch", f"references: {sorted(ra)}; path: rcode {path['rcode']}, no address"
    if pa & ra:
        return None, "overlap"
    if any(same_prefix(p, r) for p in pa for r in ra):
        return None, f"path {sorted(pa)} shares the /24 (/48) of the references' {sorted(ra)} (CDN-like)"
    return "dns.answer-mismatch", f"references: {sorted(ra)}; path: {sorted(pa)}"


def dns_truth(pcap: Path, ref_lookup, modes: list[str], notes: list[str]) -> tuple[list[dict], set[str]]:
    """Expected DNS findings from the client's capture; also returns the addresses that answered DNS."""
    resp = [r for r in dns_responses(pcap) if r["qclass"] in ("", "1", "0x0001")]
    resolvers = {r["resolver"] for r in resp}
    exp: list[dict] = []
    # injection: different answers to one query (same client port, id, question)
    groups = defaultdict(list)
    for r in resp:
        groups[(r["client"], r["client_port"], r["resolver"], r["transport"], r["id"], r["qname"], r["qtype"])].append(r)
    injected = set()
    for k, rs in groups.items():
        answers = {(r["rcode"], tuple(r["addrs"])) for r in rs}
        if len(answers) > 1:
            injected.add((k[5], k[2]))
            exp.append(expect("dns.injection", {"qname": k[5], "resolver": k[2]}, modes,
                              f"frames {[r['frame'] for r in rs]} answer one query differently: {sorted(answers)}"))
    # answers compared with the reference: the first response the client accepted per query
    seen = set()
    for k, rs in groups.items():
        first = min(rs, key=lambda r: r["frame"])
        qname, qtype, resolver, transport = first["qname"], first["qtype"], first["resolver"], first["transport"]
        if qtype not in ("A", "AAAA"):
            continue
        key = (qname, qtype, resolver, transport)
        if key in seen:
            continue
        seen.add(key)
        ref = ref_lookup(qname, qtype)
        if ref is None:
            notes.append(f"no reference answer for {qname}/{qtype}")
            continue
        kind, why = classify_answer(first, ref)
        if kind:
            e = expect(kind, {"qname": qname, "qtype": qtype, "resolver": resolver, "?transport": transport}, modes,
                       f"frame {first['frame']}: {why}")
            if (qname, resolver) in injected:
                # an injector raced the resolver: the injection is the finding that must be there;
                # a mismatch on whichever answer came first is true but not required
                e["optional"] = True
            exp.append(e)
    # dedupe identical expectations (same kind + subject)
    uniq = {}
    for e in exp:
        uniq.setdefault((e["kind"], tuple(sorted(e["subject"].items()))), e)
    return list(uniq.values()), resolvers


# ---------------------------------------------------------------- TLS / TCP on the wire
def tcp_truth(pcap: Path, resolvers: set[str], modes: list[str], ca_file: Path, notes: list[str]) -> list[dict]:
    fields = ["frame.number", "tcp.stream", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport",
              "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.reset", "tcp.flags.fin", "tls.handshake.type",
              "tls.handshake.extensions_server_name", "ip.ttl", "ipv6.hlim"]
    streams: dict[str, dict] = {}
    # the IP TTLs each address's own packets arrive with (not RSTs): a RST with another TTL was
    # sent by something else on the path (a firewall's REJECT), not by the server
    ttls: dict[str, set[int]] = defaultdict(set)
    for src_, ttl_ in [(norm_addr(a or b), t or h) for a, b, t, h in
                       tshark_fields(pcap, "(udp or tcp) and not icmp and not icmpv6 and not tcp.flags.reset == 1",
                                     ["ip.src", "ipv6.src", "ip.ttl", "ipv6.hlim"])]:
        if ttl_.split(",")[0].isdigit():
            ttls[src_].add(int(ttl_.split(",")[0]))
    for row in tshark_fields(pcap, "tcp and not icmp and not icmpv6", fields):
        fr, st, s4, s6, d4, d6, sp, dp, syn, ack, rst, fin, hs, sni, t4, t6 = row
        src, dst = norm_addr(s4 or s6), norm_addr(d4 or d6)
        ttl = int((t4 or t6).split(",")[0]) if (t4 or t6).split(",")[0].isdigit() else None
        s = streams.setdefault(st, {"frames": [], "synack": False, "refused": False, "ch": None, "sh": False, "rst_from_server": None,
                                    "server": None, "port": None, "sni": ""})
        syn_, ack_ = syn in ("1", "True"), ack in ("1", "True")
        if syn_ and not ack_ and s["server"] is None:
            s["server"], s["port"], s["client"] = dst, int(dp), src
        if s["server"] is None:
            continue
        from_server = src == s["server"] and sp == str(s["port"])
        if syn_ and ack_ and from_server:
            s["synack"] = True
        if rst in ("1", "True") and from_server and not s["synack"]:
            if ttls.get(src) and ttl is not None and ttl not in ttls[src]:
                s["forged_rst"] = f"RST with IP TTL {ttl}, the server's own packets arrive with {sorted(ttls[src])}"
            else:
                s["refused"] = True
        types = hs.split(",") if hs else []
        if "1" in types and not from_server:
            s["ch"] = int(fr)
            s["sni"] = norm_name(sni.split(",")[0]) if sni else ""
        if "2" in types and from_server:
            s["sh"] = True
        if (rst in ("1", "True")) and from_server and s["ch"] and not s["sh"] and s["rst_from_server"] is None:
            s["rst_from_server"] = int(fr)
    exp = []
    for st, s in streams.items():
        if s["server"] is None:
            continue
        if s["refused"] and s["port"] in (853, 443):
            notes.append(f"stream {st}: {s['server']}:{s['port']} refused (RST to the SYN): a service not offered, not a block")
        if not s["synack"] and not s["refused"] and s["port"] in (853, 443) and s["server"] in resolvers:
            how = s.get("forged_rst") or "never answered"
            e = expect("encrypted-dns.blocked", {"resolver|server": s["server"]}, modes,
                       f"SYN to {s['server']}:{s['port']}: {how} (stream {st})")
            e["port"] = s["port"]
            exp.append(e)
        if s["rst_from_server"] and s["sni"]:
            exp.append(expect("tls.reset-after-clienthello", {"sni": s["sni"]}, modes,
                              f"ClientHello frame {s['ch']} (SNI {s['sni']}) answered by RST frame {s['rst_from_server']}, no ServerHello"))
    # certificates visible in the clear (TLS <= 1.2)
    rows = tshark_fields(pcap, "tls.handshake.certificate", ["tcp.stream", "tls.handshake.certificate"])
    for st, certs in rows:
        s = streams.get(st)
        if not s:
            continue
        ders = [bytes.fromhex(c.replace(":", "")) for c in certs.split(",") if c]
        if not ders:
            continue
        ok_chain, ok_name = verify_chain(ders, s["sni"], ca_file)
        if not ok_chain:
            exp.append(expect("tls.untrusted-certificate", {"sni|server": s["sni"] or s["server"]}, modes,
                              f"certificate in stream {st} from {s['server']} does not chain to a trusted root (openssl verify)"))
        elif not ok_name:
            notes.append(f"stream {st}: trusted chain but not for {s['sni']} (misconfiguration: low at most, not expected)")
    uniq = {}
    for e in exp:
        uniq.setdefault((e["kind"], tuple(sorted(e["subject"].items()))), e)
    return list(uniq.values())


def verify_chain(ders: list[bytes], sni: str, ca_file: Path) -> tuple[bool, bool]:
    with tempfile.TemporaryDirectory(prefix="sc-verify-") as d:
        leaf = Path(d) / "leaf.pem"
        chain = Path(d) / "chain.pem"
        leaf.write_text(pem(ders[0]))
        chain.write_text("".join(pem(x) for x in ders[1:]) or pem(ders[0]))
        base = ["openssl", "verify", "-CAfile", str(ca_file), "-CApath", "/etc/ssl/certs", "-untrusted", str(chain)]
        ok_chain = subprocess.run(base + [str(leaf)], capture_output=True, timeout=30).returncode == 0
        ok_name = True
        if sni:
            ok_name = subprocess.run(base + ["-verify_hostname", sni, str(leaf)], capture_output=True,
                                     timeout=30).returncode == 0
        return ok_chain, ok_name


def pem(der: bytes) -> str:
    import base64
    b = base64.b64encode(der).decode()
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + "\n-----END CERTIFICATE-----\n"


# ---------------------------------------------------------------- nftables rulesets
def _port_set(right) -> set[int] | None:
    if isinstance(right, int):
        return {right}
    if isinstance(right, str) and right.isdigit():
        return {int(right)}
    if isinstance(right, dict):
        if "set" in right:
            out = set()
            for x in right["set"]:
                p = _port_set(x)
                if p is None:
                    return None
                out |= p
            return out
        if "range" in right:
            lo, hi = right["range"]
            return set(range(int(lo), int(hi) + 1))
    if isinstance(right, list):
        out = set()
        for x in right:
            p = _port_set(x)
            if p is None:
                return None
            out |= p
        return out
    return None


def _addr_set(right) -> set[str] | None:
    if isinstance(right, str):
        return {norm_addr(right)}
    if isinstance(right, dict):
        if "set" in right:
            out = set()
            for x in right["set"]:
                out |= _addr_set(x) or set()
            return out
        if "prefix" in right:
            return {f"{right['prefix']['addr']}/{right['prefix']['len']}"}
    return None


def _addr_in(a: str, s: set[str]) -> bool:
    for x in s:
        if "/" in x:
            try:
                if ipaddress.ip_address(a) in ipaddress.ip_network(x, strict=False):
                    return True
            except ValueError:
                pass
        elif norm_addr(x) == a:
            return True
    return False


def _conditions(exprs: list) -> dict:
    c = {"dport": None, "daddr": None, "l4": None, "local": False}
    for e in exprs:
        m = e.get("match") if isinstance(e, dict) else None
        if not m:
            continue
        left, right, op = m.get("left", {}), m.get("right"), m.get("op", "==")
        if op not in ("==", "in"):
            continue
        fib = left.get("fib") if isinstance(left, dict) else None
        if fib and fib.get("result") == "type" and "daddr" in (fib.get("flags") or []) and right in ("local", ["local"]):
            c["local"] = True   # traffic addressed to this host itself
            continue
        pl = left.get("payload") if isinstance(left, dict) else None
        if pl:
            if pl.get("field") == "dport":
                c["dport"] = _port_set(right)
                if pl.get("protocol") in ("udp", "tcp"):
                    c["l4"] = pl["protocol"]
            elif pl.get("field") == "daddr":
                c["daddr"] = _addr_set(right)
    return c


def _verdict_targets(e: dict) -> list[tuple[str, dict | None]]:
    """jump/goto targets of a statement, with the per-key port constraint of a verdict map."""
    out = []
    for v in ("jump", "goto"):
        if v in e:
            out.append((e[v]["target"], None))
    if "vmap" in e:
        key = e["vmap"].get("key", {})
        is_port = isinstance(key, dict) and key.get("payload", {}).get("field") == "dport"
        data = e["vmap"].get("data", {})
        items = data.get("set", []) if isinstance(data, dict) else []
        for item in items:
            if isinstance(item, list) and len(item) == 2:
                k, verdict = item
                for v in ("jump", "goto"):
                    if isinstance(verdict, dict) and v in verdict:
                        out.append((verdict[v]["target"], {"dport": _port_set(k)} if is_port else None))
    return out


def nft_text_rules(text: str) -> dict:
    """(family, table, chain, handle) -> rule line of an `nft -a list ruleset` text listing (it
    translates iptables-nft targets that the JSON shows only as xt)."""
    out, fam, table, chain = {}, None, None, None
    for line in text.splitlines():
        m = re.match(r"\s*table (\S+) (\S+) \{", line)
        if m:
            fam, table, chain = m.group(1), m.group(2), None
            continue
        m = re.match(r"\s*chain (\S+) \{", line)
        if m:
            chain = m.group(1)
            continue
        m = re.search(r"# handle (\d+)$", line)
        if m and chain:
            out[(fam, table, chain, int(m.group(1)))] = line.strip()
    return out


def _xt_nat_from_text(line: str):
    m = re.search(r"\bdnat (?:ip6? )?to (\S+)", line)
    if m:
        t = m.group(1)
        if t.startswith("["):
            a, _, p = t[1:].partition("]:")
            return a, (p or None)
        if t.count(":") == 1:
            a, p = t.split(":")
            return a or None, p
        return t, None
    m = re.search(r"\bredirect to :(\d+)", line)
    if m:
        return None, m.group(1)
    return None


def nft_truth(json_text: str, role: str, resolvers: set[str], modes: list[str], text: str = "") -> list[dict]:
    try:
        items = json.loads(json_text).get("nftables", []) if json_text.strip() else []
    except json.JSONDecodeError:
        return []
    chains, rules = {}, defaultdict(list)
    for it in items:
        if "chain" in it:
            c = it["chain"]
            chains[(c["family"], c["table"], c["name"])] = c
        elif "rule" in it:
            r = it["rule"]
            rules[(r["family"], r["table"], r["chain"])].append(r)
    exp = []

    def nat_target(exprs):
        for e in exprs:
            if not isinstance(e, dict):
                continue
            for k in ("dnat", "redirect", "tproxy"):
                if k in e:
                    d = e[k] or {}
                    return k, d.get("addr"), d.get("port")
            if "xt" in e and e["xt"].get("type") == "target" and e["xt"].get("name") in ("DNAT", "REDIRECT", "TPROXY"):
                return e["xt"]["name"].lower(), None, None
        return None

    text_rules = nft_text_rules(text) if text else {}

    def block_verdict(exprs):
        for e in exprs:
            if isinstance(e, dict) and ("drop" in e or "reject" in e):
                return True
            if isinstance(e, dict) and "xt" in e and e["xt"].get("name") in ("REJECT", "DROP"):
                return True
        return False

    def walk(key, cons, ctype, path, depth=0):
        if depth > 16:
            return
        for r in rules.get(key, []):
            exprs = r.get("expr", [])
            c = _conditions(exprs)
            dport = c["dport"] if c["dport"] is not None else cons.get("dport")
            daddr = c["daddr"] if c["daddr"] is not None else cons.get("daddr")
            local = c["local"] or cons.get("local", False)
            nt = nat_target(exprs)
            fam, table, chain = key
            subj = {"handle": r.get("handle"), "chain": chain, "table": table}
            if nt and ctype == "nat":
                kind, addr, port = nt
                if addr is None and port is None:
                    tx = _xt_nat_from_text(text_rules.get((fam, table, chain, r.get("handle")), ""))
                    if tx:
                        addr, port = tx
                port_i = int(port) if isinstance(port, (int, str)) and str(port).isdigit() else None
                takes = None
                same_host = (isinstance(addr, str) and daddr is not None and len(daddr) == 1
                             and norm_addr(addr) == norm_addr(next(iter(daddr))))
                if same_host:
                    pass  # a port remap on the very address asked (Docker's 127.0.0.11): nobody's DNS goes elsewhere
                elif local:
                    pass  # traffic addressed to this host (NAT reflection, a published service): nobody's DNS/TLS was going elsewhere
                elif dport is not None:
                    if dport & DNS_PORTS:
                        takes = "firewall.dns-redirect"
                    elif dport & TLS_PORTS:
                        takes = "firewall.tls-redirect"
                else:
                    if port_i in DNS_PORTS:
                        takes = "firewall.dns-redirect"
                    elif port_i in TLS_PORTS:
                        takes = "firewall.tls-redirect"
                    elif port_i is None and ((daddr and any(_addr_in(x, daddr) for x in resolvers))
                                             or (isinstance(addr, str) and norm_addr(addr) in resolvers)):
                        takes = "firewall.dns-redirect"
                if takes and dport is None and port_i is None:
                    # a catch-all DNAT of a resolver address also diverts its DoH (443): true, not required
                    o = expect("firewall.tls-redirect", subj, modes, "catch-all DNAT of a resolver address: its 443 too")
                    o["optional"] = True
                    exp.append(o)
                    # ... and its DoT/DoH go to a host that may refuse them: a "blocked" verdict on the
                    # address asked (or, seen behind the NAT, on the target) is true, not required
                    for a in sorted((daddr or set()) | ({norm_addr(addr)} if isinstance(addr, str) else set())):
                        if "/" in a:
                            continue
                        o = expect("encrypted-dns.blocked", {"resolver|server": a}, modes,
                                   f"catch-all DNAT handle {r.get('handle')} diverts 853/443 of {sorted(daddr or [])} to {addr}")
                        o["optional"] = True
                        exp.append(o)
                if takes:
                    exp.append(expect(takes, subj, modes,
                                      f"{role}: {fam} {table} {chain} handle {r.get('handle')} {kind} "
                                      f"to {addr or ''}:{port or ''} takes dport {sorted(dport) if dport else 'any'} "
                                      f"(via {' -> '.join(path + [chain])})"))
            if block_verdict(exprs) and ctype == "filter":
                if dport and (dport & {853} or dport & {443}):
                    to_resolver = daddr is not None and any(_addr_in(x, daddr) for x in resolvers)
                    if to_resolver or (daddr is None and 853 in dport):
                        exp.append(expect("firewall.encrypted-dns-block", subj, modes,
                                          f"{role}: {fam} {table} {chain} handle {r.get('handle')} drops/rejects "
                                          f"dport {sorted(dport)} to {sorted(daddr) if daddr else 'any'}"))
            for tgt, extra in [t for e in exprs if isinstance(e, dict) for t in _verdict_targets(e)]:
                ncons = {"dport": dport, "daddr": daddr, "local": local}
                if extra and extra.get("dport") is not None:
                    ncons["dport"] = extra["dport"]
                walk((fam, table, tgt), ncons, ctype, path + [chain], depth + 1)

    for key, c in chains.items():
        if "hook" in c:
            walk(key, {}, c.get("type", "filter"), [])
    uniq = {}
    for e in exp:
        uniq.setdefault((e["kind"], tuple(sorted(e["subject"].items()))), e)
    return list(uniq.values())


def legacy_truth(text: str, role: str, resolvers: set[str], modes: list[str]) -> list[dict]:
    """iptables-legacy-save: DNAT/REDIRECT rules in nat, DROP/REJECT of 853/443 to a resolver in
    filter (no handles in legacy tables: chain, origin and target identify the rule)."""
    exp = []
    table = None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        if not line.startswith("-A "):
            continue
        toks = line.split()
        chain = toks[1]

        def opt(name):
            return toks[toks.index(name) + 1] if name in toks and toks.index(name) + 1 < len(toks) else None
        target = opt("-j")
        dport = opt("--dport")
        ports = {int(dport)} if dport and dport.isdigit() else None
        daddr = opt("-d")
        daddr = daddr.split("/")[0] if daddr and daddr.endswith(("/32", "/128")) else daddr
        if table == "nat" and target in ("DNAT", "REDIRECT"):
            dest = opt("--to-destination") or (":" + opt("--to-ports") if opt("--to-ports") else "")
            tport = dest.rsplit(":", 1)[1] if dest and ":" in dest else None
            kind = None
            if ports is not None:
                kind = "firewall.dns-redirect" if ports & DNS_PORTS else ("firewall.tls-redirect" if ports & TLS_PORTS else None)
            elif tport and tport.isdigit():
                kind = "firewall.dns-redirect" if int(tport) in DNS_PORTS else ("firewall.tls-redirect" if int(tport) in TLS_PORTS else None)
            elif daddr and norm_addr(daddr) in resolvers:
                kind = "firewall.dns-redirect"
            if kind:
                exp.append(expect(kind, {"chain": chain, "origin": "iptables-legacy"}, modes,
                                  f"{role}: iptables-legacy nat {line}"))
        elif table == "filter" and target in ("DROP", "REJECT") and ports and ports & {853, 443}:
            to_resolver = daddr is not None and norm_addr(daddr) in resolvers
            if to_resolver or (daddr is None and 853 in ports):
                subj = {"chain": chain, "origin": "iptables-legacy"}
                if daddr:
                    subj["?target"] = f"{norm_addr(daddr)}:{dport}"
                exp.append(expect("firewall.encrypted-dns-block", subj, modes, f"{role}: iptables-legacy filter {line}"))
    return exp
