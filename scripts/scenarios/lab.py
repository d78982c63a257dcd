"""Network-namespace lab for the scenario suite: topology, processes, PKI, servers.

Topology of every scenario (all addresses inside 10.99.0.0/16 and fd99::/16, no default route
anywhere, no link to the host's network):

    client 10.99.1.1/30 fd99:1::1 ── 10.99.1.2/30 fd99:1::2 router 10.99.2.1/30 fd99:2::1 ── 10.99.2.2/30 fd99:2::2 svc

The svc namespace carries the service addresses on its loopback (see ADDR). The client routes
10.99.0.0/16 and fd99::/16 to the router; the router has routes to the service addresses only.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ADDR = {
    "client": "10.99.1.1", "client6": "fd99:1::1",
    "router_c": "10.99.1.2", "router_c6": "fd99:1::2",
    "router_s": "10.99.2.1", "router_s6": "fd99:2::1",
    "svc": "10.99.2.2", "svc6": "fd99:2::2",
    # the resolver the client is configured with (unbound: Do53, DoT, DoH)
    "resolver": "10.99.10.53", "resolver6": "fd99:10::53",
    # a second address of the same resolver service (scenario: DNAT of one address only)
    "resolver2": "10.99.11.53",
    # an NXDOMAIN-rewriting forwarder (Python) in front of the resolver
    "fwd": "10.99.12.53",
    # the trusted reference (a second unbound with the same zone), reached over DoH and DoT
    "ref": "10.99.30.53",
    # the rogue resolver (dnsmasq)
    "rogue": "10.99.20.53", "rogue6": "fd99:20::53",
    # a rogue DNS-over-TLS server (unbound, certificate from the middlebox's own CA), scenario dot-dnat
    "rogue_dot": "10.99.21.53",
    # web servers (openssl s_server)
    "web": "10.99.50.10", "web_blocked": "10.99.50.11", "web_wrongname": "10.99.50.12", "web_strict": "10.99.50.13",
    # the TLS-intercepting proxy (its own CA)
    "proxy": "10.99.60.10",
}
SERVICE_V4 = ["resolver", "resolver2", "fwd", "ref", "rogue", "rogue_dot", "web", "web_blocked", "web_wrongname", "web_strict", "proxy"]
SERVICE_V6 = ["resolver6", "rogue6"]

ZONE = "lab.test"
RESOLVER_TLS_NAME = "resolver.lab.test"
REF_TLS_NAME = "ref.lab.test"
ROGUE_ANSWER = "10.99.66.66"           # what the rogue dnsmasq answers for every lab.test name
ROGUE_ANSWER6 = "fd99:66::66"

# The zone the real resolver and the reference both serve (name -> list of (type, data)).
ZONE_DATA = {
    "www.lab.test": [("A", ADDR["web"])],
    "mail.lab.test": [("A", "10.99.50.25"), ("AAAA", "fd99:50::25")],
    "api.lab.test": [("A", "10.99.50.30"), ("A", "10.99.50.31")],
    "v6.lab.test": [("AAAA", "fd99:50::10")],
    "cdn.lab.test": [("A", "10.99.51.20")],
    "blocked.lab.test": [("A", ADDR["web_blocked"])],
    "wrongname.lab.test": [("A", ADDR["web_wrongname"])],
    "strict.lab.test": [("A", ADDR["web_strict"])],
    # a large answer: truncated over UDP without EDNS, then retried over TCP
    "big.lab.test": [("A", f"10.99.52.{i}") for i in range(1, 41)],
    "resolver.lab.test": [("A", ADDR["resolver"])],
    "ref.lab.test": [("A", ADDR["ref"])],
}


class LabError(Exception):
    pass


def run(cmd: list[str], *, check: bool = True, timeout: float = 60, input: str | None = None,
        ns: str | None = None) -> subprocess.CompletedProcess:
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"timed out after {timeout}s: {' '.join(cmd)}") from e
    if check and r.returncode != 0:
        raise LabError(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r


class Proc:
    """A process started inside a namespace; stopped by its own PID only."""

    def __init__(self, name: str, ns: str, cmd: list[str], log: Path, env: dict | None = None):
        self.name = name
        self.log = log
        self.fh = open(log, "wb")
        full = ["ip", "netns", "exec", ns] + cmd  # ip netns exec execs: the PID is the command's
        self.p = subprocess.Popen(full, stdout=self.fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=env, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, wait: float = 5) -> int | None:
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(timeout=5)
        self.fh.close()
        return self.p.returncode

    def wait(self, timeout: float) -> int | None:
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


class Lab:
    """One scenario's namespaces. `tag` is short (namespace names sc-<tag>-client …)."""

    def __init__(self, tag: str, workdir: Path, clients: int = 1):
        self.tag = tag
        self.n_clients = clients
        self.dir = workdir
        self.client = f"sc-{tag}-client"
        self.router = f"sc-{tag}-router"
        self.svc = f"sc-{tag}-svc"
        self.if_client, self.if_router_c, self.if_router_s, self.if_svc = "scc0", "scrc0", "scrs0", "scs0"
        # a second client (several clients): sc-<tag>-client2, 10.99.3.1/30 fd99:3::1 via the router's scrc1
        self.clients = [self.client] + ([f"sc-{tag}-client2"] if clients > 1 else [])
        self.procs: list[Proc] = []
        self.created_ns: list[str] = []
        self.netns_etc: list[Path] = []

    # ---- topology
    def build(self) -> None:
        for ns in self.clients + [self.router, self.svc]:
            if ns in run(["ip", "netns", "list"]).stdout.split():
                raise LabError(f"namespace {ns} exists already (a previous run left it? `ip netns del {ns}`)")
            run(["ip", "netns", "add", ns])
            self.created_ns.append(ns)
            run(["ip", "link", "set", "lo", "up"], ns=ns)
            run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"], ns=ns, check=False)
        # veths are created inside the namespaces: never an interface on the host
        run(["ip", "-n", self.client, "link", "add", self.if_client, "type", "veth", "peer", "name", self.if_router_c,
             "netns", self.router])
        run(["ip", "-n", self.router, "link", "add", self.if_router_s, "type", "veth", "peer", "name", self.if_svc,
             "netns", self.svc])
        A = ADDR
        links = [(self.client, self.if_client, A["client"], A["client6"]),
                 (self.router, self.if_router_c, A["router_c"], A["router_c6"]),
                 (self.router, self.if_router_s, A["router_s"], A["router_s6"]),
                 (self.svc, self.if_svc, A["svc"], A["svc6"])]
        if len(self.clients) > 1:
            run(["ip", "-n", self.clients[1], "link", "add", "scc1", "type", "veth", "peer", "name", "scrc1",
                 "netns", self.router])
            links += [(self.clients[1], "scc1", "10.99.3.1", "fd99:3::1"), (self.router, "scrc1", "10.99.3.2", "fd99:3::2")]
        for ns, dev, a4, a6 in links:
            run(["ip", "addr", "add", f"{a4}/30", "dev", dev], ns=ns)
            run(["ip", "-6", "addr", "add", f"{a6}/64", "dev", dev, "nodad"], ns=ns)
            run(["ip", "link", "set", dev, "up"], ns=ns)
        for k in SERVICE_V4:
            run(["ip", "addr", "add", f"{A[k]}/32", "dev", "lo"], ns=self.svc)
            run(["ip", "route", "add", f"{A[k]}/32", "via", A["svc"]], ns=self.router)
        for k in SERVICE_V6:
            run(["ip", "-6", "addr", "add", f"{A[k]}/128", "dev", "lo", "nodad"], ns=self.svc)
            run(["ip", "-6", "route", "add", f"{A[k]}/128", "via", A["svc6"]], ns=self.router)
        run(["ip", "route", "add", "10.99.0.0/16", "via", A["router_c"]], ns=self.client)
        run(["ip", "-6", "route", "add", "fd99::/16", "via", A["router_c6"]], ns=self.client)
        run(["ip", "route", "add", "10.99.1.0/30", "via", A["router_s"]], ns=self.svc)
        run(["ip", "-6", "route", "add", "fd99:1::/64", "via", A["router_s6"]], ns=self.svc)
        if len(self.clients) > 1:
            run(["ip", "route", "add", "10.99.0.0/16", "via", "10.99.3.2"], ns=self.clients[1])
            run(["ip", "-6", "route", "add", "fd99::/16", "via", "fd99:3::2"], ns=self.clients[1])
            run(["ip", "route", "add", "10.99.3.0/30", "via", A["router_s"]], ns=self.svc)
            run(["ip", "-6", "route", "add", "fd99:3::/64", "via", A["router_s6"]], ns=self.svc)
        run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], ns=self.router)
        run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], ns=self.router)
        for ns in self.clients + [self.router, self.svc]:
            for fam in ("-4", "-6"):
                out = run(["ip", fam, "route", "show", "default"], ns=ns).stdout.strip()
                if out:
                    raise LabError(f"{ns} has a default route: {out}")
        # the client's resolv.conf (ip netns exec bind-mounts /etc/netns/NS/resolv.conf)
        for ns in self.clients + [self.router, self.svc]:
            d = Path("/etc/netns") / ns
            d.mkdir(parents=True, exist_ok=True)
            (d / "resolv.conf").write_text(f"nameserver {A['resolver']}\n")
            self.netns_etc.append(d)

    def spawn(self, name: str, ns: str, cmd: list[str]) -> Proc:
        p = Proc(name, ns, cmd, self.dir / f"{name}.log")
        self.procs.append(p)
        return p

    def wait_listening(self, ns: str, proc: Proc, sockets: list[str], timeout: float = 10, udp: bool = False) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not proc.alive():
                raise LabError(f"{proc.name} exited: {proc.log.read_text(errors='replace')[-2000:]}")
            out = run(["ss", "-lntu" if udp else "-lnt"], ns=ns).stdout
            if all(s in out for s in sockets):
                return
            time.sleep(0.2)
        raise LabError(f"{proc.name} not listening on {sockets} after {timeout}s: {proc.log.read_text(errors='replace')[-2000:]}")

    def teardown(self) -> None:
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:
                pass
        for ns in self.created_ns:
            run(["ip", "netns", "del", ns], check=False)
        for d in self.netns_etc:
            shutil.rmtree(d, ignore_errors=True)

    # ---- rules
    def nft(self, ns: str, ruleset: str, name: str) -> None:
        f = self.dir / f"{name}.nft-in"
        f.write_text(ruleset)
        run(["nft", "-f", str(f)], ns=ns)

    def save_rulesets(self) -> dict[str, dict[str, Path]]:
        """Saves each host's ruleset: nft text with handles, nft JSON, iptables-legacy-save."""
        out: dict[str, dict[str, Path]] = {}
        roles = [(f"client{i + 1 if i else ''}", ns) for i, ns in enumerate(self.clients)] + [("router", self.router)]
        for role, ns in roles:
            files = {}
            t = run(["nft", "-a", "list", "ruleset"], ns=ns).stdout
            files["nft"] = self.dir / f"{role}.nft"
            files["nft"].write_text(t)
            j = run(["nft", "-a", "-j", "list", "ruleset"], ns=ns).stdout
            files["json"] = self.dir / f"{role}.nft.json"
            files["json"].write_text(j)
            legacy = ""
            for tool in ("iptables-legacy-save", "ip6tables-legacy-save"):
                r = run([tool], ns=ns, check=False)
                if r.returncode == 0:
                    legacy += r.stdout
            files["legacy"] = self.dir / f"{role}.iptables-legacy"
            files["legacy"].write_text(legacy)
            r = run(["iptables-nft-save"], ns=ns, check=False)
            files["iptnft"] = self.dir / f"{role}.iptables-nft"
            files["iptnft"].write_text(r.stdout if r.returncode == 0 else "")
            out[role] = files
        return out


# ---- PKI (openssl command line)
class PKI:
    def __init__(self, d: Path):
        self.d = d
        d.mkdir(parents=True, exist_ok=True)

    def p(self, n: str) -> str:
        return str(self.d / n)

    def ca(self, base: str, subject: str) -> None:
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-sha256",
             "-days", "7", "-keyout", self.p(f"{base}.key"), "-out", self.p(f"{base}.pem"), "-subj", subject,
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash"])

    def leaf(self, base: str, ca: str, cn: str, dns: list[str], ips: list[str] = ()) -> None:
        san = ",".join([f"DNS:{n}" for n in dns] + [f"IP:{i}" for i in ips])
        ext = self.d / f"{base}.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                       f"extendedKeyUsage=serverAuth\nsubjectAltName={san}\nsubjectKeyIdentifier=hash\n"
                       "authorityKeyIdentifier=keyid\n")
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", self.p(f"{base}.key"), "-out", self.p(f"{base}.csr"), "-subj", f"/CN={cn}"])
        run(["openssl", "x509", "-req", "-sha256", "-days", "7", "-in", self.p(f"{base}.csr"), "-CA", self.p(f"{ca}.pem"),
             "-CAkey", self.p(f"{ca}.key"), "-set_serial", "0x" + os.urandom(8).hex(), "-extfile", str(ext),
             "-out", self.p(f"{base}.pem")])


def make_pki(d: Path) -> PKI:
    k = PKI(d)
    k.ca("ca", "/O=dnsaudit scenario lab/CN=Scenario Lab Root CA")
    k.leaf("resolver", "ca", RESOLVER_TLS_NAME, [RESOLVER_TLS_NAME],
           [ADDR["resolver"], ADDR["resolver2"], ADDR["resolver6"]])
    k.leaf("ref", "ca", REF_TLS_NAME, [REF_TLS_NAME], [ADDR["ref"]])
    k.leaf("web", "ca", "www.lab.test", ["www.lab.test", "blocked.lab.test", "cdn.lab.test"])
    k.leaf("other", "ca", "other.lab.test", ["other.lab.test"])          # trusted, but for another name
    k.ca("evilca", "/O=Middlebox Inspection Inc/CN=Middlebox Inspection CA")
    k.leaf("proxy", "evilca", "www.lab.test", ["www.lab.test", "blocked.lab.test"])
    # what a DoT interceptor presents: the resolver's names and addresses, signed by its own CA
    k.leaf("roguedot", "evilca", RESOLVER_TLS_NAME, [RESOLVER_TLS_NAME],
           [ADDR["resolver"], ADDR["resolver2"], ADDR["resolver6"]])
    return k


def unbound_conf(d: Path, *, interfaces: list[str], identity: str, cert: str, key: str,
                 zone: dict[str, list[tuple[str, str]]], extra_zone_lines: list[str] = ()) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    lines = [
        "server:", "  verbosity: 1", "  use-syslog: no", '  logfile: ""', '  username: ""', '  chroot: ""',
        f'  directory: "{d}"', '  pidfile: ""', "  do-daemonize: no", "  num-threads: 1", "  do-ip6: yes",
    ]
    for a in interfaces:
        for port in (53, 853, 443):
            lines.append(f"  interface: {a}@{port}")
    lines += [
        "  tls-port: 853", "  https-port: 443", '  http-endpoint: "/dns-query"',
        f'  tls-service-key: "{key}"', f'  tls-service-pem: "{cert}"',
        "  access-control: 10.99.0.0/16 allow", "  access-control: fd99::/16 allow",
        '  module-config: "iterator"', "  do-not-query-localhost: no", '  root-hints: ""', '  auto-trust-anchor-file: ""',
        f'  identity: "{identity}"', "  hide-identity: no", f'  version: "unbound-{identity}"', "  hide-version: no",
        f'  nsid: "ascii_{identity}"', "  rrset-roundrobin: no", "  minimal-responses: yes",
        '  local-zone: "." refuse', f'  local-zone: "{ZONE}." static',
        f'  local-data: "{ZONE}. 300 IN SOA ns.{ZONE}. admin.{ZONE}. 1 3600 600 86400 300"',
    ]
    for name, rrs in zone.items():
        for t, v in rrs:
            lines.append(f'  local-data: "{name}. 300 IN {t} {v}"')
    lines += [f"  {x}" for x in extra_zone_lines]
    lines += ["remote-control:", "  control-enable: no", "forward-zone:", '  name: "."', "  forward-addr: 127.0.0.1@9", ""]
    f = d / "unbound.conf"
    f.write_text("\n".join(lines))
    return f


def dnsmasq_cmd(listen: list[str], answers: list[tuple[str, str]], extra: list[str] = (), port: int = 53) -> list[str]:
    cmd = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
           "--bind-interfaces", f"--port={port}", "--pid-file", "--user=root", "--log-facility=-", "--log-queries"]
    cmd += [f"--listen-address={a}" for a in listen]
    cmd += [f"--address=/{n}/{a}" for n, a in answers]
    return cmd + list(extra)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
