"""The scenarios: each builds on the common lab (lab.py) with its own rules, middleboxes and
extra traffic. Truth is never written here: it is derived afterwards from the wire and the
rulesets (truth.py). A scenario only says what to plant and what traffic to send.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lab import ADDR, ROGUE_ANSWER, ROGUE_ANSWER6, ZONE_DATA, dnsmasq_cmd, run, unbound_conf

A = ADDR
HERE = Path(__file__).resolve().parent


@dataclass
class Scenario:
    name: str
    title: str
    setup: Callable | None = None             # setup(ctx): rules, middleboxes
    resolvers: list[str] = field(default_factory=lambda: [A["resolver"]])   # the client's resolvers
    probe_targets: list[str] = field(default_factory=lambda: ["www.lab.test"])
    extra_traffic: list[str] = field(default_factory=list)  # shell lines run in the client
    resolver_zone: dict | None = None          # what the real resolver serves (default: the reference's zone)
    decode_ports: list[int] = field(default_factory=list)   # extra ports tshark must decode as DNS
    clients: int = 1                           # 2: a second client namespace behind the same router


def dnat_rules(table: str = "sc_hijack") -> str:
    return f"""table ip {table} {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr {A['resolver']} udp dport 53 dnat to {A['rogue']}
        ip daddr {A['resolver']} tcp dport 53 dnat to {A['rogue']}
    }}
}}
"""


def s_dnat(ctx):
    ctx.lab.nft(ctx.lab.router, dnat_rules(), "router-dnat")


def s_dnat_vmap(ctx):
    ctx.lab.nft(ctx.lab.router, f"""table inet sc_gw {{
    chain dns_hijack {{
        ip daddr {A['resolver']} dnat ip to {A['rogue']}
    }}
    chain steer {{
        meta l4proto tcp tcp dport 53 goto dns_hijack
    }}
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        udp dport vmap {{ 53 : jump dns_hijack, 123 : accept }}
        jump steer
    }}
}}
""", "router-vmap")


def s_clean_a(ctx):
    lab = ctx.lab
    lab.nft(lab.router, f"""table ip sc_nat {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "{lab.if_router_s}" udp dport 8053 dnat to {A['resolver']}:53 comment "publish internal DNS"
        iifname "{lab.if_router_s}" tcp dport 8053 dnat to {A['resolver']}:53 comment "publish internal DNS"
        iifname "{lab.if_router_s}" tcp dport 8443 dnat to {A['web']}:443 comment "publish internal web"
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "{lab.if_router_s}" ip saddr 10.99.1.0/30 masquerade
    }}
}}
table inet sc_filter {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        ct state established,related accept
        udp dport 53 limit rate over 200/second burst 50 packets drop comment "DNS rate limit"
        udp dport 53 accept
        tcp dport {{ 53, 853, 443 }} accept
        udp dport 443 accept
    }}
}}
""", "router-clean")
    # Docker- and libvirt-style rules through iptables-nft
    for cmd in (
        "-t nat -N DOCKER",
        "-t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-t nat -A DOCKER -i docker0 -j RETURN",
        "-t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
        "-t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 2053 -j DNAT --to-destination 172.17.0.3:2053",
        "-t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
        "-t nat -N LIBVIRT_PRT",
        "-t nat -A POSTROUTING -j LIBVIRT_PRT",
        "-t nat -A LIBVIRT_PRT -s 192.168.122.0/24 ! -d 192.168.122.0/24 -p tcp -j MASQUERADE --to-ports 1024-65535",
        "-N LIBVIRT_INP",
        "-A INPUT -j LIBVIRT_INP",
        "-A LIBVIRT_INP -i virbr0 -p udp -m udp --dport 53 -j ACCEPT",
        "-A LIBVIRT_INP -i virbr0 -p tcp -m tcp --dport 53 -j ACCEPT",
        "-A LIBVIRT_INP -i virbr0 -p udp -m udp --dport 67 -j ACCEPT",
    ):
        run(["iptables-nft"] + cmd.split(), ns=lab.router)
    # Docker's embedded DNS on the client: DNS sent to 127.0.0.11:53 is remapped to the same
    # address on another port (the daemon's resolver) — nobody's DNS goes elsewhere
    for cmd in (
        "-t nat -N DOCKER_OUTPUT",
        "-t nat -N DOCKER_POSTROUTING",
        "-t nat -A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT",
        "-t nat -A POSTROUTING -d 127.0.0.11/32 -j DOCKER_POSTROUTING",
        "-t nat -A DOCKER_OUTPUT -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.11:40053",
        "-t nat -A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:50053",
        "-t nat -A DOCKER_POSTROUTING -s 127.0.0.11/32 -p tcp -m tcp --sport 40053 -j SNAT --to-source :53",
        "-t nat -A DOCKER_POSTROUTING -s 127.0.0.11/32 -p udp -m udp --sport 50053 -j SNAT --to-source :53",
    ):
        run(["iptables-nft"] + cmd.split(), ns=lab.client)
    # an SSH port-forward and IPv6 masquerade on the router
    lab.nft(lab.router, f"""table ip6 sc_nat6 {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "{lab.if_router_s}" ip6 saddr fd99:1::/64 masquerade
    }}
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "{lab.if_router_s}" tcp dport 2222 dnat to [fd99:1::1]:22
    }}
}}
""", "router-clean6")
    # a local caching stub on the client (dnsmasq on 127.0.0.1:53, forwarding to the real resolver)
    p = lab.spawn("client-stub", lab.client, dnsmasq_cmd(["127.0.0.1"], [], [f"--server={A['resolver']}", "--cache-size=100"]))
    lab.wait_listening(lab.client, p, ["127.0.0.1:53"])


def s_local_redirect(ctx):
    lab = ctx.lab
    p = lab.spawn("client-forwarder", lab.client,
                  dnsmasq_cmd(["127.0.0.1"], [], [f"--server={A['rogue']}"], port=5354))
    lab.wait_listening(lab.client, p, ["127.0.0.1:5354"])
    lab.nft(lab.client, f"""table ip sc_local {{
    chain output {{
        type nat hook output priority -100; policy accept;
        ip daddr {A['resolver']} udp dport 53 redirect to :5354
        ip daddr {A['resolver']} tcp dport 53 redirect to :5354
    }}
}}
""", "client-redirect")


def s_iptables(tool: str):
    def f(ctx):
        for proto in ("udp", "tcp"):
            run([tool, "-t", "nat", "-A", "PREROUTING", "-d", A["resolver"], "-p", proto, "--dport", "53", "-j", "DNAT",
                 "--to-destination", A["rogue"]], ns=ctx.lab.router)
    return f


def s_ip6tables_legacy(ctx):
    for proto in ("udp", "tcp"):
        run(["ip6tables-legacy", "-t", "nat", "-A", "PREROUTING", "-d", A["resolver6"], "-p", proto, "--dport", "53", "-j", "DNAT",
             "--to-destination", A["rogue6"]], ns=ctx.lab.router)


def s_injector(ctx):
    lab = ctx.lab
    lab.spawn("injector", lab.router, ["python3", str(HERE / "middlebox.py"), "inject", lab.if_router_c, A["resolver"],
                                        "10.99.66.77", "www.lab.test,api.lab.test"])


def s_nxrewrite(ctx):
    lab = ctx.lab
    p = lab.spawn("nxrewrite", lab.svc, ["python3", str(HERE / "middlebox.py"), "nxrewrite", A["fwd"], A["resolver"],
                                         "203.0.113.7"])
    lab.wait_listening(lab.svc, p, [f"{A['fwd']}:53"])
    (Path("/etc/netns") / lab.client / "resolv.conf").write_text(f"nameserver {A['fwd']}\n")


def s_one_address(ctx):
    ctx.lab.nft(ctx.lab.router, f"""table ip sc_one {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr {A['resolver2']} dnat to {A['rogue']}
    }}
}}
""", "router-one")


def s_v6_dnat(ctx):
    ctx.lab.nft(ctx.lab.router, f"""table ip6 sc_v6 {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        ip6 daddr {A['resolver6']} meta l4proto {{ udp, tcp }} th dport 53 dnat to {A['rogue6']}
    }}
}}
""", "router-v6")


def s_udp_only(ctx):
    ctx.lab.nft(ctx.lab.router, f"""table ip sc_udp {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr {A['resolver']} udp dport 53 dnat to {A['rogue']}
    }}
}}
""", "router-udp")


def s_block_encrypted(ctx):
    ctx.lab.nft(ctx.lab.router, f"""table inet sc_block {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        ip daddr {A['resolver']} tcp dport {{ 853, 443 }} drop
        ip daddr {A['resolver']} udp dport {{ 853, 443 }} drop
    }}
}}
""", "router-block")


def s_reject_encrypted(ctx):
    for port in ("853", "443"):
        run(["iptables-legacy", "-A", "FORWARD", "-d", A["resolver"], "-p", "tcp", "--dport", port, "-j", "REJECT",
             "--reject-with", "tcp-reset"], ns=ctx.lab.router)


def s_sni_reset(ctx):
    run(["iptables-nft", "-A", "FORWARD", "-p", "tcp", "--dport", "443", "-m", "string", "--string", "blocked.lab.test",
         "--algo", "bm", "-j", "REJECT", "--reject-with", "tcp-reset"], ns=ctx.lab.router)


def s_tls_proxy(ctx):
    lab, k = ctx.lab, ctx.pki
    p = lab.spawn("proxy", lab.svc, ["openssl", "s_server", "-4", "-accept", f"{A['proxy']}:443", "-cert", k.p("proxy.pem"),
                                     "-key", k.p("proxy.key"), "-cert_chain", k.p("evilca.pem"), "-www", "-quiet"])
    lab.wait_listening(lab.svc, p, [f"{A['proxy']}:443"])
    lab.nft(lab.router, f"""table ip sc_proxy {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr 10.99.50.0/24 tcp dport 443 dnat to {A['proxy']}:443
    }}
}}
""", "router-proxy")


def s_two_clients(ctx):
    ctx.lab.nft(ctx.lab.router, f"""table ip sc_guest {{
    set hijacked_clients {{
        type ipv4_addr
        elements = {{ 10.99.3.1 }}
    }}
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        ip saddr @hijacked_clients ip daddr {A['resolver']} meta l4proto {{ udp, tcp }} th dport 53 dnat to {A['rogue']}
    }}
}}
""", "router-guest")


def s_router_redirect(ctx):
    lab = ctx.lab
    p = lab.spawn("router-dnsmasq", lab.router, dnsmasq_cmd([A["router_c"]], [("lab.test", "10.99.66.88")], port=5300))
    lab.wait_listening(lab.router, p, [f"{A['router_c']}:5300"])
    lab.nft(lab.router, f"""table inet sc_captive {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "{lab.if_router_c}" udp dport 53 redirect to :5300
        iifname "{lab.if_router_c}" tcp dport 53 redirect to :5300
    }}
}}
""", "router-redirect")


def s_output_dnat_v6(ctx):
    ctx.lab.nft(ctx.lab.client, f"""table ip6 sc_out6 {{
    chain output {{
        type nat hook output priority -100; policy accept;
        ip6 daddr {A['resolver6']} udp dport 53 dnat to [{A['rogue6']}]:53
        ip6 daddr {A['resolver6']} tcp dport 53 dnat to [{A['rogue6']}]:53
    }}
}}
""", "client-out6")


def s_clean_b(ctx):
    # a server that answers an unknown SNI with a fatal unrecognized_name alert (its own choice)
    lab, k = ctx.lab, ctx.pki
    p = lab.spawn("tls-strict", lab.svc, ["openssl", "s_server", "-4", "-accept", f"{A['web_strict']}:443", "-cert", k.p("web.pem"),
                                          "-key", k.p("web.key"), "-servername", "www.lab.test", "-cert2", k.p("web.pem"),
                                          "-key2", k.p("web.key"), "-servername_fatal", "-www", "-quiet"])
    lab.wait_listening(lab.svc, p, [f"{A['web_strict']}:443"])


def s_tcp_only(ctx):
    ctx.lab.nft(ctx.lab.router, f"""table inet sc_tcp {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr {A['resolver']} tcp dport 53 dnat ip to {A['rogue']}
        ip6 daddr {A['resolver6']} tcp dport 53 dnat ip6 to {A['rogue6']}
    }}
}}
""", "router-tcp")


def s_dot_dnat(ctx):
    # a DoT interceptor: unbound with the rogue's answers and its own identity, presenting a
    # certificate for the resolver's names from the middlebox's CA (not the lab CA)
    lab, k = ctx.lab, ctx.pki
    zone = {n: [(t, ROGUE_ANSWER if t == "A" else ROGUE_ANSWER6) for t, _ in rrs if t in ("A", "AAAA")]
            for n, rrs in ZONE_DATA.items()}
    conf = unbound_conf(ctx.work / "unbound-rogue-dot", interfaces=[A["rogue_dot"]], identity="rogue-dot.lab",
                        cert=k.p("roguedot.pem"), key=k.p("roguedot.key"), zone=zone)
    p = lab.spawn("unbound-rogue-dot", lab.svc, ["unbound", "-d", "-c", str(conf)])
    lab.wait_listening(lab.svc, p, [f"{A['rogue_dot']}:853"])
    run(["iptables-legacy", "-t", "nat", "-A", "PREROUTING", "-d", A["resolver"], "-p", "tcp", "--dport", "853", "-j", "DNAT",
         "--to-destination", A["rogue_dot"]], ns=lab.router)


def s_hairpin(ctx):
    # NAT reflection: the internal web server and resolver published on the router's own addresses
    # (fib daddr type local), reachable from the LAN through the same rules (hairpin masquerade)
    lab = ctx.lab
    lab.nft(lab.router, f"""table ip sc_reflect {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        fib daddr type local tcp dport 443 dnat to {A['web']}:443 comment "web published on the router (reflection)"
        fib daddr type local meta l4proto {{ udp, tcp }} th dport 53 dnat to {A['resolver']}:53 comment "DNS published on the router"
    }}
    chain output {{
        type nat hook output priority -100; policy accept;
        fib daddr type local tcp dport 443 dnat to {A['web']}:443 comment "the router's own reflection"
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr 10.99.1.0/30 ip daddr {{ {A['web']}, {A['resolver']} }} ct status dnat masquerade comment "hairpin"
    }}
}}
""", "router-hairpin")


CLEAN_B_ZONE = dict(ZONE_DATA)
CLEAN_B_ZONE["cdn.lab.test"] = [("A", "10.99.51.21")]            # same /24 as the references' 10.99.51.20
CLEAN_B_ZONE["intranet.lab.test"] = [("A", "10.99.70.5")]         # internal only (split horizon)
CLEAN_B_ZONE["git.intranet.lab.test"] = [("A", "10.99.70.6")]


def tls12(addr: str, sni: str) -> str:
    return (f"timeout 6 openssl s_client -tls1_2 -connect {addr}:443 -servername {sni} </dev/null >/dev/null 2>&1; true")


SCENARIOS: list[Scenario] = [
    Scenario("dnat-rogue", "router DNATs udp+tcp 53 (nft prerouting) to a rogue dnsmasq", s_dnat),
    Scenario("clean-a", "clean control A: port-forwards, masquerade, accepts, rate limit, Docker/libvirt rules, local stub",
             s_clean_a, extra_traffic=[f"dig @127.0.0.1 {n} A +tries=1 +time=2 >/dev/null" for n in
                                       ("www.lab.test", "mail.lab.test", "api.lab.test")]
             + [f"python3 {HERE / 'nettool.py'} dupquery {A['resolver']} www.lab.test 3 >/dev/null",
                f"python3 {HERE / 'nettool.py'} dupquery {A['resolver']} api.lab.test 2 >/dev/null"]),
    Scenario("local-redirect", "client nat output redirect of DNS to a local forwarder (dnsmasq -> rogue)",
             s_local_redirect, decode_ports=[5354]),
    Scenario("iptables-nft-dnat", "router DNAT udp+tcp 53 to the rogue with iptables-nft", s_iptables("iptables-nft")),
    Scenario("iptables-legacy-dnat", "router DNAT udp+tcp 53 to the rogue with iptables-legacy", s_iptables("iptables-legacy")),
    Scenario("ip6tables-legacy-dnat", "router DNAT of IPv6 udp+tcp 53 to the rogue with ip6tables-legacy", s_ip6tables_legacy,
             resolvers=[A["resolver6"]]),
    Scenario("injector", "on-path injector on the router races the real resolver", s_injector,
             probe_targets=["www.lab.test"]),
    Scenario("nxdomain-rewrite", "ISP-style forwarder rewrites NXDOMAIN to 203.0.113.7", s_nxrewrite,
             resolvers=[A["fwd"]]),
    Scenario("one-address", "DNAT of one resolver address (all ports) into the rogue", s_one_address,
             resolvers=[A["resolver"], A["resolver2"]]),
    Scenario("v6-dnat", "IPv6-only DNAT (th dport 53, udp+tcp) to the rogue", s_v6_dnat,
             resolvers=[A["resolver"], A["resolver6"]]),
    Scenario("udp-only", "UDP-only hijack of port 53", s_udp_only),
    Scenario("block-encrypted", "DoT and DoH (tcp+udp 853/443) to the resolver silently dropped on the router",
             s_block_encrypted),
    Scenario("reject-encrypted", "DoT and DoH to the resolver rejected with a TCP reset (iptables-legacy FORWARD)",
             s_reject_encrypted),
    Scenario("sni-reset", "iptables string match on one SNI answers with a TCP reset", s_sni_reset,
             probe_targets=["www.lab.test", "blocked.lab.test"],
             extra_traffic=[tls12(A["web_blocked"], "blocked.lab.test")]),
    Scenario("tls-proxy", "TLS-intercepting proxy with its own CA (router DNATs 443 to it)", s_tls_proxy),
    Scenario("clean-b", "clean control B: split horizon, CDN-like answer, trusted cert for a wrong name, references' traffic, "
             "TC + TCP retry, a server refusing an unknown SNI with an alert",
             s_clean_b, resolver_zone=CLEAN_B_ZONE,
             probe_targets=["www.lab.test", "cdn.lab.test", "intranet.lab.test", "wrongname.lab.test"],
             extra_traffic=[f"dig @{A['resolver']} {n} A +tries=1 +time=2 >/dev/null" for n in
                            ("intranet.lab.test", "git.intranet.lab.test")]
             + [tls12(A["web_wrongname"], "wrongname.lab.test"),
                f"dig +tls @{A['ref']} www.lab.test A +tries=1 +time=2 >/dev/null",
                f"dig +https @{A['ref']} www.lab.test A +tries=1 +time=2 >/dev/null",
                f"dig +https @{A['ref']} cdn.lab.test A +tries=1 +time=2 >/dev/null",
                f"dig +noedns @{A['resolver']} big.lab.test A +tries=1 +time=2 >/dev/null",
                f"timeout 6 openssl s_client -connect {A['web_strict']}:443 -servername old.lab.test </dev/null >/dev/null 2>&1; true"]),
    Scenario("two-clients", "two clients; the router DNATs only the second one's DNS (a set of source addresses)",
             s_two_clients, clients=2),
    Scenario("router-redirect", "router redirects (nft inet, redirect to :5300) DNS to its own dnsmasq", s_router_redirect),
    Scenario("output-dnat-v6", "client nat output DNAT of IPv6 DNS to the rogue (ip6 family, output hook)", s_output_dnat_v6,
             resolvers=[A["resolver6"]]),
    Scenario("tcp-only", "TCP-only hijack of port 53, IPv4 and IPv6 (nft inet prerouting)", s_tcp_only,
             resolvers=[A["resolver"], A["resolver6"]]),
    Scenario("dot-dnat", "router DNATs DoT (tcp 853) to the resolver into a rogue DoT server (iptables-legacy)", s_dot_dnat),
    Scenario("clean-hairpin", "clean control: NAT reflection (fib daddr type local) of web and DNS on the router, hairpin masquerade",
             s_hairpin,
             extra_traffic=[f"dig @{A['router_c']} {n} A +tries=1 +time=2 >/dev/null" for n in ("www.lab.test", "api.lab.test")]
             + [f"dig +tcp @{A['router_c']} www.lab.test A +tries=1 +time=2 >/dev/null",
                tls12(A["router_c"], "www.lab.test")]),
    Scenario("dnat-vmap", "router DNAT reached through a verdict map (udp) and a goto (tcp), inet family", s_dnat_vmap),
]
