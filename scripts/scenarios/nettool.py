#!/usr/bin/env python3
"""Small network helpers run inside a lab namespace (ip netns exec NS python3 nettool.py …).
Python standard library only. Every address they touch is given on the command line by run.py
(lab addresses only).

  connect ADDR PORT [TIMEOUT]        -> prints ok | refused | timeout | reset | error:…
  tls ADDR PORT SNI CAFILE [TIMEOUT] -> prints JSON {"outcome", "chain_ok", "name_ok", "issuer"}
"""
import json
import socket
import ssl
import sys


def connect(addr: str, port: int, timeout: float) -> str:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        return "ok"
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "reset"
    except (socket.timeout, TimeoutError):
        return "timeout"
    except OSError as e:
        return f"error:{e.strerror or e}"
    finally:
        s.close()


def tls(addr: str, port: int, sni: str, cafile: str, timeout: float) -> dict:
    out = {"outcome": None, "chain_ok": None, "name_ok": None, "issuer": None}
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    # 1: chain only (lab CA + system store)
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cafile=cafile)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
    except ConnectionRefusedError:
        out["outcome"] = "refused"
        return out
    except (socket.timeout, TimeoutError):
        out["outcome"] = "timeout"
        return out
    except OSError as e:
        out["outcome"] = f"error:{e.strerror or e}"
        return out
    try:
        t = ctx.wrap_socket(s, server_hostname=sni)
        out["chain_ok"] = True
        cert = t.getpeercert()
        out["issuer"] = dict(x[0] for x in cert.get("issuer", ()))
        try:
            ssl.match_hostname  # noqa: B018  (removed in 3.12; fall back below)
        except AttributeError:
            pass
        names = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
        out["name_ok"] = any(n.lower() == sni.lower() or (n.startswith("*.") and sni.lower().endswith(n[1:].lower()))
                             for n in names)
        out["outcome"] = "handshake"
        t.close()
    except ssl.SSLCertVerificationError as e:
        out["chain_ok"] = False
        out["outcome"] = "handshake"
        out["issuer"] = str(e.verify_message)
    except ConnectionResetError:
        out["outcome"] = "reset"
    except (socket.timeout, TimeoutError):
        out["outcome"] = "timeout"
    except ssl.SSLError as e:
        out["outcome"] = f"tls-error:{e.reason}"
    except OSError as e:
        out["outcome"] = "reset" if getattr(e, "errno", None) == 104 else f"error:{e}"
    finally:
        s.close()
    return out


def dupquery(addr: str, name: str, times: int) -> str:
    """The same query (same socket, same id) sent `times` times: the resolver answers each copy
    identically — retransmissions, never an injection."""
    import struct
    q = struct.pack("!HHHHHH", 0x5ca1, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", 1, 1)
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(2)
    got = 0
    for _ in range(times):
        s.sendto(q, (addr, 53))
    try:
        while got < times:
            s.recv(4096)
            got += 1
    except (socket.timeout, TimeoutError):
        pass
    s.close()
    return f"{got} answers"


def main() -> int:
    cmd = sys.argv[1]
    if cmd == "dupquery":
        print(dupquery(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 2))
        return 0
    if cmd == "connect":
        print(connect(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 3))
    elif cmd == "tls":
        print(json.dumps(tls(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5],
                             float(sys.argv[6]) if len(sys.argv) > 6 else 4)))
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
