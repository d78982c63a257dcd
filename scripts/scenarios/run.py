#!/usr/bin/env python3
"""dnsaudit scenario suite and scorer (issue 15: verdicts you can trust).

Builds small networks in network namespaces (client, router, services) with real nftables /
iptables-nft / iptables-legacy rules, real unbound and dnsmasq, Python middleboxes and openssl
servers; sends traffic from the client; derives the truth from the wire (tshark on the client's
capture) and the rulesets (nft -j, iptables-legacy-save) — never from dnsaudit — then runs
dnsaudit in several modes and scores it: expected findings found, missed, and false alarms
(findings of severity medium or higher that the truth does not expect).

Network rule: traffic goes only to addresses inside the namespaces this script creates (10.99/16,
fd99::/16), which have no default route and no link to the host's network; the resolvers answer
lab.test only and refuse recursion; dnsaudit always gets explicit lab --reference / --resolver
values and runs inside the namespaces. Processes are stopped by PID, namespaces deleted.

Usage (root): scripts/scenarios/run.py [--binary PATH] [--mode offline,live,probe,audit]
              [--only NAME[,NAME]] [--keep] [--no-gate] [--list]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import truth  # noqa: E402
from lab import (ADDR, REF_TLS_NAME, RESOLVER_TLS_NAME, ZONE_DATA, Lab, LabError, dnsmasq_cmd, make_pki, run,  # noqa: E402
                 unbound_conf)
from scenarios import SCENARIOS, Scenario  # noqa: E402

MODES = ["offline", "live", "probe", "audit"]
SEV = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
TOOLS = ["ip", "nft", "iptables-nft", "iptables-legacy", "unbound", "dnsmasq", "tshark", "tcpdump", "dig", "openssl", "ss"]


class Ctx:
    def __init__(self, sc: Scenario, lab: Lab, pki, work: Path, binary: Path, modes: list[str]):
        self.sc, self.lab, self.pki, self.work, self.binary, self.modes = sc, lab, pki, work, binary, modes
        self.log: list[str] = []
        self.ref_cache: dict = {}

    @property
    def refs(self) -> list[str]:
        return [f"--reference", f"https://{ADDR['ref']}/dns-query#{REF_TLS_NAME}",
                f"--reference", f"tls://{ADDR['ref']}#{REF_TLS_NAME}", "--ca-file", self.pki.p("ca.pem")]


# ------------------------------------------------------------------ services and traffic
def start_services(ctx: Ctx) -> None:
    lab, k = ctx.lab, ctx.pki
    rz = ctx.sc.resolver_zone or ZONE_DATA
    # the resolver designates its DoT and DoH endpoints (DDR, RFC 9462)
    ddr = ['local-zone: "resolver.arpa." static',
           f'local-data: "_dns.resolver.arpa. 300 IN SVCB 1 {RESOLVER_TLS_NAME}. alpn=dot port=853"',
           f'local-data: "_dns.resolver.arpa. 300 IN SVCB 2 {RESOLVER_TLS_NAME}. alpn=h2 port=443"']
    conf = unbound_conf(ctx.work / "unbound-resolver", interfaces=[ADDR["resolver"], ADDR["resolver2"], ADDR["resolver6"]],
                        identity="isp-resolver.lab", cert=k.p("resolver.pem"), key=k.p("resolver.key"), zone=rz,
                        extra_zone_lines=ddr)
    u = lab.spawn("unbound-resolver", lab.svc, ["unbound", "-d", "-c", str(conf)])
    rconf = unbound_conf(ctx.work / "unbound-ref", interfaces=[ADDR["ref"]], identity="ref.lab",
                         cert=k.p("ref.pem"), key=k.p("ref.key"), zone=ZONE_DATA)
    r = lab.spawn("unbound-ref", lab.svc, ["unbound", "-d", "-c", str(rconf)])
    d = lab.spawn("rogue-dnsmasq", lab.svc, dnsmasq_cmd([ADDR["rogue"], ADDR["rogue6"]],
                                                       [("lab.test", "10.99.66.66"), ("lab.test", "fd99:66::66")]))
    webs = []
    for key, cert in (("web", "web"), ("web_blocked", "web"), ("web_wrongname", "other")):
        webs.append((key, lab.spawn(f"tls-{key}", lab.svc, ["python3", str(HERE / "middlebox.py"), "tlsweb", ADDR[key],
                                                             k.p(f"{cert}.pem"), k.p(f"{cert}.key")])))
    lab.wait_listening(lab.svc, u, [f"{ADDR['resolver']}:53", f"{ADDR['resolver']}:853", f"{ADDR['resolver']}:443"])
    lab.wait_listening(lab.svc, r, [f"{ADDR['ref']}:853", f"{ADDR['ref']}:443"])
    lab.wait_listening(lab.svc, d, [f"{ADDR['rogue']}:53"])
    for key, p in webs:
        lab.wait_listening(lab.svc, p, [f"{ADDR[key]}:443"])


def traffic_script(ctx: Ctx, nx: str) -> str:
    lines = ["#!/bin/sh", "D='+tries=1 +time=2'"]
    for res in ctx.sc.resolvers:
        for n in ("www.lab.test", "mail.lab.test", "api.lab.test", "v6.lab.test", "cdn.lab.test", nx):
            lines.append(f"dig @{res} {n} A $D >/dev/null")
            lines.append(f"dig +tcp @{res} {n} A $D >/dev/null")
        for n in ("www.lab.test", "mail.lab.test", "v6.lab.test"):
            lines.append(f"dig @{res} {n} AAAA $D >/dev/null")
        lines.append(f"dig +tls @{res} www.lab.test A $D >/dev/null")
        lines.append(f"dig +https @{res} www.lab.test A $D >/dev/null")
    lines.append(f"timeout 6 openssl s_client -tls1_2 -connect {ADDR['web']}:443 -servername www.lab.test </dev/null >/dev/null 2>&1")
    lines += ctx.sc.extra_traffic
    lines.append("sleep 1")
    return "\n".join(lines) + "\n"


def run_traffic(ctx: Ctx, name: str) -> None:
    """The traffic script in every client namespace, the clients one after the other."""
    for i, ns in enumerate(ctx.lab.clients):
        nx = f"nx-{random.randrange(1 << 30):x}.lab.test"
        f = ctx.work / f"{name}-{role_of(i)}.sh"
        f.write_text(traffic_script(ctx, nx))
        r = run(["sh", str(f)], ns=ns, check=False, timeout=300)
        ctx.log.append(f"traffic {name} {role_of(i)}: exit {r.returncode}")


def role_of(i: int) -> str:
    return f"client{i + 1}" if i else "client"


def has_packet_socket(pid: int) -> bool:
    """Whether process `pid` holds an AF_PACKET socket (its capture is open)."""
    try:
        inodes = set()
        for line in Path(f"/proc/{pid}/net/packet").read_text().splitlines()[1:]:
            parts = line.split()
            if parts:
                inodes.add(parts[-1])
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                t = os.readlink(fd)
            except OSError:
                continue
            if t.startswith("socket:[") and t[8:-1] in inodes:
                return True
    except OSError:
        return False
    return False


def wait_packet_socket(proc, present: bool, timeout: float) -> bool:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if not proc.alive():
            return not present
        if has_packet_socket(proc.pid) == present:
            return True
        time.sleep(0.1)
    return False


def tcpdump(ctx: Ctx, name: str, ns: str | None = None):
    p = ctx.lab.spawn(f"tcpdump-{name}", ns or ctx.lab.client, ["tcpdump", "-i", "any", "-U", "-n", "-s", "0", "-w",
                                                         str(ctx.work / f"{name}.pcap"),
                                                         "not arp and not icmp6 and not ip6 proto 58"])
    t0 = time.time()
    while time.time() - t0 < 10:
        if "listening on" in p.log.read_text(errors="replace"):
            break
        time.sleep(0.1)
    return p


# ------------------------------------------------------------------ truth helpers that query the lab
def ref_lookup_factory(ctx: Ctx):
    def lookup(qname: str, qtype: str):
        key = (qname, qtype)
        if key not in ctx.ref_cache:
            ctx.ref_cache[key] = dig(ctx, ctx.lab.svc, ADDR["ref"], qname, qtype)
        return ctx.ref_cache[key]
    return lookup


def dig(ctx: Ctx, ns: str, server: str, qname: str, qtype: str, extra: list[str] = (), qclass: str = "IN") -> dict | None:
    r = run(["dig", f"@{server}", qname, qtype, "-c", qclass, "+tries=1", "+time=2", "+noall", "+comments", "+answer"]
            + list(extra), ns=ns, check=False, timeout=30)
    status = None
    addrs, txt = [], []
    for line in r.stdout.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
        elif line and not line.startswith(";"):
            parts = line.split()
            if len(parts) >= 5 and parts[3] in ("A", "AAAA"):
                addrs.append(truth.norm_addr(parts[4]))
            elif len(parts) >= 5 and parts[3] == "TXT":
                txt.append(" ".join(parts[4:]))
    if status is None:
        return None
    rc = {"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5}.get(status, 99)
    return {"rcode": rc, "addrs": sorted(set(addrs)), "txt": sorted(txt)}


def nettool(ctx: Ctx, ns: str, *args: str) -> str:
    return run(["python3", str(HERE / "nettool.py")] + list(args), ns=ns, check=False, timeout=30).stdout.strip()


def probe_truth(ctx: Ctx, client: str, role: str, modes: list[str], notes: list[str]) -> list[dict]:
    """What a probe from `client` must find, measured there with dig / sockets (tcpdump running:
    injections are read from that capture)."""
    exp = []
    lookup = ref_lookup_factory(ctx)
    cap = tcpdump(ctx, f"probe-truth-{role}", ns=client)
    designated: dict[str, set[int]] = {}
    try:
        for res in ctx.sc.resolvers:
            designated[res] = ddr_ports(ctx, client, res)
            notes.append(f"probe truth: DDR of {res}: ports {sorted(designated[res])}")
            for t in ctx.sc.probe_targets:
                for qt in ("A", "AAAA"):
                    path = dig(ctx, client, res, t, qt)
                    ref = lookup(t, qt)
                    if path is None or ref is None:
                        notes.append(f"probe truth: no answer for {t}/{qt} via {res} (path {path}, ref {ref})")
                        continue
                    kind, why = truth.classify_answer(path, ref)
                    if kind:
                        exp.append(truth.expect(kind, {"qname": t, "resolver": res, "?qtype": qt}, modes, f"dig @{res} {t} {qt}: {why}"))
                # the ladder's TLS step, against the address the resolver under test gives
                path = dig(ctx, client, res, t, "A")
                for addr in (path or {}).get("addrs", [])[:1]:
                    o = json.loads(nettool(ctx, client, "tls", addr, "443", t, ctx.pki.p("ca.pem"), "4") or "{}")
                    notes.append(f"probe truth: TLS {t} at {addr}: {o}")
                    if o.get("outcome") == "reset":
                        exp.append(truth.expect("tls.reset-after-clienthello", {"sni|server": t}, modes,
                                                f"TLS to {addr} with SNI {t} reset after ClientHello (python ssl)"))
                    elif o.get("outcome") == "handshake" and o.get("chain_ok") is False:
                        exp.append(truth.expect("tls.untrusted-certificate", {"sni|server": t}, modes,
                                                f"certificate of {addr} for {t} does not chain to a trusted root: {o.get('issuer')}"))
            # NXDOMAIN canary
            canary = f"sc-canary-{random.randrange(1 << 30):x}.lab.test"
            path, ref = dig(ctx, client, res, canary, "A"), lookup(canary, "A")
            if path and ref:
                kind, why = truth.classify_answer(path, ref)
                if kind == "dns.nxdomain-rewrite":
                    exp.append(truth.expect(kind, {"resolver": res}, modes, f"canary {canary}: {why}"))
                elif why:
                    notes.append(f"probe truth: canary via {res}: {why}")
            exp += identity_truth(ctx, client, res, modes, notes)
            # encrypted DNS reachability: a silent drop is a block; a refusal is a service never offered
            for port in (853, 443):
                o = nettool(ctx, client, "connect", res, str(port), "3")
                notes.append(f"probe truth: TCP {res}:{port} {o}")
            # the DoT the resolver designates, as a client that verifies it sees it: a certificate
            # that does not chain to the lab CA means someone else answers there (interception).
            # No finding kind names "DoT intercepted": a verdict that DoT to it cannot be used
            # (encrypted-dns.blocked) is true but not required
            if 853 in designated[res]:
                o = json.loads(nettool(ctx, client, "tls", res, "853", RESOLVER_TLS_NAME, ctx.pki.p("ca.pem"), "4") or "{}")
                notes.append(f"probe truth: DoT {res}:853 with SNI {RESOLVER_TLS_NAME}: {o}")
                if o.get("outcome") == "handshake" and o.get("chain_ok") is False:
                    e = truth.expect("encrypted-dns.blocked", {"resolver|server": res}, modes,
                                     f"DoT at {res}:853 presents a certificate that does not chain to the lab CA "
                                     f"(issuer {o.get('issuer')}): intercepted, so it cannot be used")
                    e["optional"] = True
                    exp.append(e)
        # the probe also asks the references' addresses over plain DNS: an interception of those is true too
        exp += identity_truth(ctx, client, ADDR["ref"], modes, notes)
    finally:
        time.sleep(0.5)
        cap.stop(signal.SIGINT)
    pt_pcap = ctx.work / f"probe-truth-{role}.pcap"
    # blocked encrypted DNS: a SYN to 853/443 never answered, or answered by a RST the server did not send
    # (for a probe, only where the resolver designates that service: DDR, RFC 9462)
    for e in truth.tcp_truth(pt_pcap, set(ctx.sc.resolvers), modes, Path(ctx.pki.p("ca.pem")), notes):
        if e["kind"] != "encrypted-dns.blocked":
            continue
        if e.get("port") in designated.get(e["subject"]["resolver|server"], set()):
            e["why"] += " — the resolver designates it (DDR)"
            exp.append(e)
        else:
            notes.append(f"probe truth: {e['why']}, but the resolver does not designate that port (DDR): not required of a probe")
    inj, _ = truth.dns_truth(pt_pcap, lambda q, t: None, modes, [])
    raced = {(e["subject"]["qname"], e["subject"]["resolver"]) for e in inj if e["kind"] == "dns.injection"}
    for e in exp:
        # dig took whichever answer came first: with an injector racing, the mismatch is not required
        if e["kind"] == "dns.answer-mismatch" and (e["subject"].get("qname"), e["subject"].get("resolver")) in raced:
            e["optional"] = True
    for e in inj:
        if e["kind"] != "dns.injection":
            continue
        exp.append(e)
        # the race decides which answer a prober takes first: a mismatch on the forged one is
        # true but not required (neither a miss nor a false alarm)
        opt = truth.expect("dns.answer-mismatch", {"qname": e["subject"]["qname"], "resolver": e["subject"]["resolver"]},
                           modes, "an injector races the resolver for this name: whichever answer comes first may be taken")
        opt["optional"] = True
        exp.append(opt)
    return dedupe(exp)


def ddr_ports(ctx: Ctx, client: str, res: str) -> set[int]:
    """Ports of the encrypted services a resolver designates for its own address (DDR, RFC 9462:
    _dns.resolver.arpa SVCB whose target resolves to, or whose hints name, the address asked; a
    forwarder relaying another resolver's designation designates that resolver, not itself)."""
    r = run(["dig", f"@{res}", "_dns.resolver.arpa", "SVCB", "+tries=1", "+time=2", "+short"], ns=client, check=False,
            timeout=20)
    ports = set()
    for line in r.stdout.splitlines():
        toks = line.split()
        if len(toks) < 2:
            continue
        target = toks[1]
        hints = {truth.norm_addr(h) for t in toks if t.startswith(("ipv4hint=", "ipv6hint="))
                 for h in t.split("=", 1)[1].strip('"').split(",")}
        addrs = set(hints)
        for qt in ("A", "AAAA"):
            a = dig(ctx, client, res, target, qt)
            addrs |= set((a or {}).get("addrs", []))
        if truth.norm_addr(res) not in addrs:
            continue
        for tok in toks:
            if tok.startswith("port="):
                p = tok[5:].strip('"')
                if p.isdigit():
                    ports.add(int(p))
    return ports


def identity_truth(ctx: Ctx, client: str, addr: str, modes: list[str], notes: list[str]) -> list[dict]:
    """Identity over plain DNS vs over DoT on the same address (CHAOS id.server, version.bind).
    The DoT side counts only when its certificate verifies for that address (lab CA, IP SAN): an
    identity over a channel anyone could be answering proves nothing about the plain path."""
    diffs = []
    for n in ("id.server", "version.bind"):
        p = dig(ctx, client, addr, n, "TXT", qclass="CH")
        d = dig(ctx, client, addr, n, "TXT", ["+tls", f"+tls-ca={ctx.pki.p('ca.pem')}"], qclass="CH")
        pt = p["txt"] if p and p["rcode"] == 0 else None
        dt = d["txt"] if d and d["rcode"] == 0 else None
        notes.append(f"probe truth: {n} of {addr}: plain {pt}, DoT {dt}")
        if pt and dt and pt != dt:
            diffs.append(f"{n}: plain {pt} vs DoT {dt}")
    if diffs:
        return [truth.expect("dns.resolver-identity-mismatch", {"resolver": addr}, modes, "; ".join(diffs))]
    return []


def dedupe(exp: list[dict]) -> list[dict]:
    u = {}
    for e in exp:
        u.setdefault((e["kind"], tuple(sorted(e["subject"].items()))), e)
    return list(u.values())


# ------------------------------------------------------------------ dnsaudit invocations
def dnsaudit(ctx: Ctx, ns: str | None, name: str, args: list[str], timeout: float = 180) -> dict:
    cmd = [str(ctx.binary)] + args
    full = (["ip", "netns", "exec", ns] if ns else []) + cmd
    t0 = time.time()
    try:
        r = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), ""
    (ctx.work / f"dnsaudit-{name}.stdout").write_text(out or "")
    (ctx.work / f"dnsaudit-{name}.stderr").write_text(err or "")
    res = {"name": name, "cmd": " ".join(full), "exit": rc, "seconds": round(time.time() - t0, 1),
           "stderr": (err or "").strip()[-600:]}
    res["report"] = parse_report(out)
    return res


def parse_report(text: str) -> dict | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def findings_of(results: list[dict]) -> list[dict]:
    seen, out = set(), []
    for r in results:
        rep = r.get("report") or {}
        for f in rep.get("findings", []) or []:
            key = (f.get("id"), f.get("kind"), json.dumps(f.get("subject", {}), sort_keys=True), f.get("severity"))
            if key in seen:
                continue
            seen.add(key)
            f = dict(f)
            f["_from"] = r["name"]
            out.append(f)
    return out


def run_offline(ctx: Ctx, rulesets: dict) -> list[dict]:
    pcaps = [str(ctx.work / f"{role_of(i)}.pcap") for i in range(len(ctx.lab.clients))]
    rs = [str(rulesets[role]["nft"]) for role in rulesets]
    rs += [str(rulesets[role]["legacy"]) for role in rulesets if rulesets[role]["legacy"].read_text().strip()]
    res = []
    multi = dnsaudit(ctx, ctx.lab.client, "analyze", ["analyze", "--format", "json", "--quiet"] + ctx.refs
                     + [x for r in rs for x in ("--ruleset", r)] + pcaps)
    res.append(multi)
    if multi["report"] is None and multi["exit"] == 2:
        # several --ruleset options not supported (yet): one analyze per ruleset, merged
        ctx.log.append(f"offline: analyze with two --ruleset failed ({multi['stderr'][:200]}); one analyze per ruleset, merged")
        for i, r in enumerate(rs):
            res.append(dnsaudit(ctx, ctx.lab.client, f"analyze-{i}", ["analyze", "--format", "json", "--quiet"] + ctx.refs
                                + ["--ruleset", r] + pcaps))
    for role in rulesets:
        for kind in ("nft", "legacy"):
            f = rulesets[role][kind]
            if kind == "legacy" and not f.read_text().strip():
                continue
            res.append(dnsaudit(ctx, None, f"rules-file-{role}-{kind}", ["rules", "--file", str(f), "--format", "json", "--quiet"]))
    return res


def probe_args(ctx: Ctx, fmt_out: list[str]) -> list[str]:
    a = ["probe", "--format", "json", "--quiet", "--check-name", "www.lab.test", "--canary-zone", "lab.test", "--no-dnssec",
         "--timeout", "3"] + ctx.refs
    for r in ctx.sc.resolvers:
        a += ["--resolver", r]
    return a + fmt_out + ctx.sc.probe_targets


def write_policy(ctx: Ctx, name: str, out: Path, probe: bool, duration: int) -> Path:
    sc = ctx.sc
    q = lambda xs: "[" + ", ".join(json.dumps(x) for x in xs) + "]"  # noqa: E731
    text = f"""# generated by scripts/scenarios/run.py (lab addresses only)
[audit]
interface = "any"
duration = {duration}
fail_on = "medium"

[audit.outputs]
json = {json.dumps(str(out))}

[references]
urls = {q([f"https://{ADDR['ref']}/dns-query#{REF_TLS_NAME}", f"tls://{ADDR['ref']}#{REF_TLS_NAME}"])}
ca_file = {json.dumps(ctx.pki.p("ca.pem"))}
timeout = 3

[probe]
resolvers = {q(sc.resolvers if probe else [])}
targets = {q(sc.probe_targets if probe else [])}
goproxy = false
check_name = "www.lab.test"
canary_zone = "lab.test"
dnssec = false
identity = true
"""
    f = ctx.work / f"policy-{name}.toml"
    f.write_text(text)
    return f


# ------------------------------------------------------------------ one scenario
def run_scenario(sc: Scenario, base: Path, binary: Path, modes: list[str], idx: int) -> dict:
    work = base / sc.name
    work.mkdir(parents=True)
    t0 = time.time()
    lab = Lab(f"{idx:02d}-{os.getpid()}", work, clients=sc.clients)   # two runs at once do not collide
    ctx = Ctx(sc, lab, None, work, binary, modes)
    out: dict = {"scenario": sc.name, "title": sc.title, "modes": {}, "notes": [], "error": None}
    notes = out["notes"]
    results: dict[str, list[dict]] = {m: [] for m in modes}
    try:
        ctx.pki = make_pki(work / "pki")
        lab.build()
        start_services(ctx)
        if sc.setup:
            sc.setup(ctx)
        time.sleep(0.5)
        rulesets = lab.save_rulesets()

        clients = list(enumerate(lab.clients))
        ca = Path(ctx.pki.p("ca.pem"))
        # phase A: the clients' traffic, captured (and seen by dnsaudit live in each client)
        caps = [tcpdump(ctx, role_of(i), ns=ns) for i, ns in clients]
        lives = []
        if "live" in modes:
            for i, ns in clients:
                lv = lab.spawn(f"dnsaudit-live-{role_of(i)}", ns, [str(binary), "live", "-i", "any", "--duration", "120",
                                                                   "--format", "json", "--quiet", "--output",
                                                                   str(work / f"live-{role_of(i)}.json")] + ctx.refs)
                if not wait_packet_socket(lv, True, 30):
                    ctx.log.append(f"live {role_of(i)}: no capture socket after 30 s")
                lives.append((i, lv))
            time.sleep(0.5)
        t_traffic = time.time()
        run_traffic(ctx, "traffic")
        t_traffic = time.time() - t_traffic
        time.sleep(1.5)
        for i, lv in lives:
            if lv.alive():
                os.kill(lv.pid, signal.SIGINT)
            rc = lv.wait(60)
            if rc is None:
                rc = lv.stop()
            f = work / f"live-{role_of(i)}.json"
            rep = parse_report(f.read_text()) if f.exists() else None
            results["live"].append({"name": f"live-{role_of(i)}", "cmd": f"dnsaudit live -i any --output {f.name} …", "exit": rc,
                                    "stderr": lv.log.read_text(errors="replace")[-600:], "report": rep})
        for c in caps:
            c.stop(signal.SIGINT)

        # truth from the wire and the rulesets
        wire_modes = [m for m in ("offline", "live") if m in modes]
        lookup = ref_lookup_factory(ctx)
        truth.DECODE_AS[:] = sc.decode_ports
        expected: list[dict] = []
        resolvers = set(sc.resolvers)
        for i, _ in clients:
            wire_dns, rs_ = truth.dns_truth(work / f"{role_of(i)}.pcap", lookup, wire_modes, notes)
            expected += wire_dns
            resolvers |= rs_
        for i, _ in clients:
            expected += truth.tcp_truth(work / f"{role_of(i)}.pcap", resolvers, wire_modes, ca, notes)
        rule_modes = [m for m in ("offline", "live", "audit") if m in modes]
        for role in rulesets:
            expected += truth.nft_truth(rulesets[role]["json"].read_text(), role, resolvers, rule_modes,
                                        rulesets[role]["nft"].read_text())
            expected += truth.legacy_truth(rulesets[role]["legacy"].read_text(), role, resolvers, rule_modes)
        probe_modes = [m for m in ("probe", "live", "audit") if m in modes]
        if probe_modes:
            for i, ns in clients:
                expected += probe_truth(ctx, ns, role_of(i), probe_modes, notes)

        # phase C/D: probe (from each client) and the live rules (each host)
        if "probe" in modes or "live" in modes:
            for i, ns in clients:
                pr = dnsaudit(ctx, ns, f"probe-{role_of(i)}", probe_args(ctx, []))
                for m in ("probe", "live"):
                    if m in modes:
                        results[m].append(pr)
        if "live" in modes:
            # the network's operator names the resolvers the network runs (approved_resolvers), as
            # the README tells them to: without it, a rule that takes every port of an address
            # cannot tell a resolver from any other host
            rp = ctx.work / "policy-rules.toml"
            rp.write_text("# generated by scripts/scenarios/run.py: the resolvers this network runs\n"
                          f"approved_resolvers = [{', '.join(json.dumps(r) for r in sc.resolvers)}]\n")
            for role, ns in [(role_of(i), ns) for i, ns in clients] + [("router", lab.router)]:
                results["live"].append(dnsaudit(ctx, ns, f"rules-live-{role}", ["rules", "--policy", str(rp), "--format", "json",
                                                                                 "--quiet"]))

        # phase E: audit (clients: probes + capture with traffic; router: rules + capture)
        if "audit" in modes:
            window = int(t_traffic + 5)
            audits = []
            # The router's audit has no probes: its capture window opens at once, and sees the
            # clients' audit probes that cross it. Its truth capture starts when that window opens,
            # so that the truth covers what the router's audit saw.
            pr_ = write_policy(ctx, "router", work / "audit-router.json", False, window)
            router_audit = ("audit-router", lab.spawn("dnsaudit-audit-router", lab.router,
                                                      [str(binary), "audit", "--policy", str(pr_), "--no-probe", "--quiet"]))
            if not wait_packet_socket(router_audit[1], True, 120):
                ctx.log.append("audit-router: capture window not seen opening")
            router_cap = tcpdump(ctx, "audit-router", ns=lab.router)
            for i, ns in clients:
                pc = write_policy(ctx, role_of(i), work / f"audit-{role_of(i)}.json", True, window)
                audits.append((f"audit-{role_of(i)}", lab.spawn(f"dnsaudit-audit-{role_of(i)}", ns,
                                                                [str(binary), "audit", "--policy", str(pc), "--quiet"])))
            audits.append(router_audit)
            # the clients' probes run first, then their capture windows: their truth captures and
            # the traffic start once every audit has its capture open, and stop when the first client's closes
            for nm, p in audits:
                if not wait_packet_socket(p, True, 120):
                    ctx.log.append(f"{nm}: capture window not seen opening")
            acaps = [tcpdump(ctx, f"audit-{role_of(i)}", ns=ns) for i, ns in clients]
            acaps.append(router_cap)
            run_traffic(ctx, "audit-traffic")
            wait_packet_socket(audits[0][1], False, window + 30)
            for nm, p in audits:
                rc = p.wait(150)
                if rc is None:
                    rc = f"timeout ({p.stop()})"
                f = work / f"{nm}.json"
                rep = parse_report(f.read_text()) if f.exists() else None
                results["audit"].append({"name": nm, "cmd": f"dnsaudit audit --policy policy-{nm[6:]}.toml", "exit": rc,
                                         "stderr": p.log.read_text(errors="replace")[-600:], "report": rep})
            for c in acaps:
                c.stop(signal.SIGINT)
            # each audit's capture is matched by the truth of its own host's wire
            ares = set(resolvers)
            for role in [role_of(i) for i, _ in clients] + ["router"]:
                adns, rs_ = truth.dns_truth(work / f"audit-{role}.pcap", lookup, ["audit"], notes)
                expected += adns
                ares |= rs_
            for role in [role_of(i) for i, _ in clients] + ["router"]:
                expected += truth.tcp_truth(work / f"audit-{role}.pcap", ares, ["audit"], ca, notes)

        # offline (no traffic; inside the client namespace so that the lab references answer)
        if "offline" in modes:
            results["offline"] = run_offline(ctx, rulesets)
        expected = merge_modes(expected)
    except Exception as e:  # a broken scenario is reported, the suite goes on
        out["error"] = f"{type(e).__name__}: {e}"
        traceback.print_exc()
        expected = []
    finally:
        lab.teardown()
    out["expected"] = expected
    for m in modes:
        out["modes"][m] = score(expected, m, results[m], out["error"])
    out["seconds"] = round(time.time() - t0, 1)
    out["log"] = ctx.log
    (work / "details.json").write_text(json.dumps(out, indent=2, default=str))
    (work / "findings.json").write_text(json.dumps({m: {"runs": [{k: v for k, v in r.items() if k != "report"}
                                                                for r in results[m]],
                                                        "findings": findings_of(results[m])} for m in modes},
                                                   indent=2, default=str))
    return out


def merge_modes(exp: list[dict]) -> list[dict]:
    u: dict = {}
    for e in exp:
        k = (e["kind"], tuple(sorted(e["subject"].items())))
        if k in u:
            u[k]["modes"] = sorted(set(u[k]["modes"]) | set(e["modes"]))
            if not e.get("optional"):
                u[k].pop("optional", None)
        else:
            u[k] = dict(e)
    return list(u.values())


# ------------------------------------------------------------------ scorer
def norm_val(k: str, v) -> str:
    s = str(v)
    if k in ("qname", "sni"):
        return truth.norm_name(s)
    if k in ("resolver", "server", "client"):
        return truth.norm_addr(s)
    return s.lower()


def matches(e: dict, f: dict) -> bool:
    kind, fk = e["kind"], f.get("kind")
    subj = f.get("subject") or {}
    if fk != kind:
        alias = kind == "dns.nxdomain-rewrite" and fk == "dns.answer-mismatch" and subj.get("reason") == "nxdomain-rewrite"
        if not alias:
            return False
    for key, val in e["subject"].items():
        optional = key.startswith("?")
        keys = key.lstrip("?").split("|")
        present = [k for k in keys if k in subj]
        if not present:
            if optional:
                continue
            return False
        if not any(norm_val(k, subj[k]) == norm_val(k, val) for k in present):
            return False
    return True


def score(expected: list[dict], mode: str, results: list[dict], error: str | None) -> dict:
    allowed = [e for e in expected if mode in e["modes"]]
    exp = [e for e in allowed if not e.get("optional")]
    fs = findings_of(results)
    found, missed = [], []
    for e in exp:
        ms = [f for f in fs if matches(e, f)]
        strong = [f for f in ms if SEV.get(f.get("severity"), 0) >= SEV["medium"]]
        if strong:
            found.append({"expected": e, "by": [f.get("id") for f in strong]})
        else:
            why = "not reported"
            if ms:
                why = "reported only at " + ",".join(sorted({f.get('severity', '?') for f in ms}))
            missed.append({"expected": e, "why": why})
    false_alarms = []
    for f in fs:
        if SEV.get(f.get("severity"), 0) < SEV["medium"]:
            continue
        if not any(matches(e, f) for e in allowed):
            false_alarms.append({"kind": f.get("kind"), "severity": f.get("severity"), "confidence": f.get("confidence"),
                                 "subject": f.get("subject"), "title": f.get("title"), "from": f.get("_from")})
    runs = [{"name": r["name"], "exit": r.get("exit"), "report": r.get("report") is not None,
             "stderr": (r.get("stderr") or "")[:300]} for r in results]
    return {"expected": len(exp), "found": len(found), "missed": missed, "false_alarms": false_alarms,
            "found_list": found, "runs": runs, "error": error}


# ------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=".build/debug/dnsaudit")
    ap.add_argument("--mode", default=",".join(MODES))
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (always kept when the run fails)")
    ap.add_argument("--no-gate", action="store_true", help="exit 0 even with misses or false alarms")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--workdir", default="", help="parent of the work directory (default: a new temp dir)")
    args = ap.parse_args()

    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:22} {s.title}")
        return 0
    if os.geteuid() != 0:
        print("skipped: the scenario suite needs root (network namespaces, nftables, live capture)")
        return 0
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        print(f"skipped: missing tools {', '.join(missing)} (apt-get install -y nftables iptables unbound dnsmasq "
              f"tshark tcpdump bind9-dnsutils openssl iproute2)")
        return 0
    modes = [m for m in args.mode.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        print(f"run.py: unknown mode {','.join(bad)} (modes: {','.join(MODES)})", file=sys.stderr)
        return 2
    only = [x for x in args.only.split(",") if x]
    names = {s.name for s in SCENARIOS}
    unknown = [x for x in only if x not in names]
    if unknown:
        print(f"run.py: unknown scenario {','.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    chosen = [s for s in SCENARIOS if not only or s.name in only]
    src = Path(args.binary)
    if not src.is_file():
        print(f"run.py: no dnsaudit binary at {src} (swift build, or pass --binary)", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="sc-run-", dir=args.workdir or None))
    binary = base / "dnsaudit"
    # a rebuild by someone else does not change the copy mid-run; a copy taken while the linker
    # was still writing the file does not run: copy again once the build is done
    for attempt in range(20):
        shutil.copy2(src, binary)
        try:
            ok = subprocess.run([str(binary), "--version"], capture_output=True, timeout=30).returncode == 0
        except (subprocess.TimeoutExpired, OSError):
            ok = False
        if ok:
            break
        print(f"run.py: {src} does not run yet (a build in progress?): retrying in 15 s", file=sys.stderr, flush=True)
        time.sleep(15)
    else:
        print(f"run.py: {src} does not run ('{src} --version' fails)", file=sys.stderr)
        return 2
    import hashlib
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()[:16]
    print(f"work dir {base}; binary {src} (copied, sha256 {digest}…, built {time.strftime('%H:%M:%S', time.gmtime(src.stat().st_mtime))} UTC); "
          f"modes {','.join(modes)}; {len(chosen)} scenario(s)", flush=True)
    t0 = time.time()
    outs = []
    for i, sc in enumerate(chosen):
        idx = SCENARIOS.index(sc) + 1
        print(f"[{i + 1}/{len(chosen)}] {sc.name}: {sc.title}", flush=True)
        o = run_scenario(sc, base, binary, modes, idx)
        outs.append(o)
        line = "  " + "  ".join(f"{m} {o['modes'][m]['found']}/{o['modes'][m]['expected']} fa {len(o['modes'][m]['false_alarms'])}"
                                for m in modes)
        print(line + (f"  ERROR {o['error']}" if o["error"] else "") + f"  ({o['seconds']} s)", flush=True)
    total = round(time.time() - t0, 1)
    table = render_table(outs, modes, total)
    print(table)
    (base / "summary.txt").write_text(table)
    (base / "summary.json").write_text(json.dumps(outs, indent=2, default=str))
    bad = any(o["error"] or any(o["modes"][m]["missed"] or o["modes"][m]["false_alarms"] for m in modes) for o in outs)
    binary.unlink(missing_ok=True)   # the copy is large; its digest is in the first line
    print(f"details: {base}/<scenario>/details.json, summary: {base}/summary.txt")
    if not args.keep and not bad:
        shutil.rmtree(base, ignore_errors=True)
        print("(work dir removed: pass --keep to keep it)")
    if bad and not args.no_gate:
        return 1
    return 0


def render_table(outs: list[dict], modes: list[str], total: float) -> str:
    w = max([len(o["scenario"]) for o in outs] + [8])
    lines = [f"{'scenario':{w}}  " + "  ".join(f"{m:>16}" for m in modes),
             f"{'':{w}}  " + "  ".join(f"{'found/exp  FA':>16}" for _ in modes)]
    tot = {m: [0, 0, 0] for m in modes}
    for o in outs:
        cells = []
        for m in modes:
            s = o["modes"][m]
            tot[m][0] += s["found"]
            tot[m][1] += s["expected"]
            tot[m][2] += len(s["false_alarms"])
            cells.append(f"{s['found']:>5}/{s['expected']:<4} {len(s['false_alarms']):>3}" + ("!" if o["error"] else " "))
        lines.append(f"{o['scenario']:{w}}  " + "  ".join(f"{c:>16}" for c in cells))
    lines.append(f"{'TOTAL':{w}}  " + "  ".join(f"{f'{t[0]:>5}/{t[1]:<4} {t[2]:>3} ':>16}" for t in tot.values()))
    rec = "  ".join(f"{m}: recall {100 * t[0] / t[1]:.0f} % ({t[0]}/{t[1]}), {t[2]} false alarms" if t[1] else f"{m}: nothing expected, {t[2]} false alarms"
                    for m, t in tot.items())
    lines.append(rec)
    lines.append(f"full run: {total} s ({len(outs)} scenarios; '!' = the scenario itself failed, see details.json)")
    lines.append("")
    lines.append("misses and false alarms:")
    for o in outs:
        for m in modes:
            s = o["modes"][m]
            for x in s["missed"]:
                e = x["expected"]
                lines.append(f"  MISS {o['scenario']}/{m}: {e['kind']} {e['subject']} ({x['why']}) — truth: {e['why']}")
            for fa in s["false_alarms"]:
                lines.append(f"  FA   {o['scenario']}/{m}: {fa['kind']} {fa['severity']} {fa['subject']} — {fa['title']} [{fa['from']}]")
            for r in s["runs"]:
                if r["exit"] not in (0, 1) or not r["report"]:
                    lines.append(f"  RUN  {o['scenario']}/{m}: {r['name']} exit {r['exit']}, report {'yes' if r['report'] else 'none'}: "
                                 f"{r['stderr'].strip().splitlines()[-1] if r['stderr'].strip() else ''}")
        if o["error"]:
            lines.append(f"  ERROR {o['scenario']}: {o['error']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
