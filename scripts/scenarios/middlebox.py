#!/usr/bin/env python3
"""Python middleboxes for the scenario suite (run inside a lab namespace; standard library only).

  inject IFACE RESOLVER FORGED NAME[,NAME…]
      On-path injector: sniffs IPv4/UDP queries to RESOLVER:53 on IFACE (AF_PACKET) and, for the
      listed names, races the real resolver with a forged A answer FORGED sent straight back to
      the client's MAC (source address: the resolver's). The real answer still arrives later.
  tlsweb LISTEN CERT KEY
      A threaded HTTPS server on LISTEN:443 (TLS 1.2 and 1.3) answering every request with 200:
      unlike `openssl s_server`, a connection a middlebox cut off half-way does not block the next.
  nxrewrite LISTEN UPSTREAM REWRITE
      Forwarder on LISTEN:53 (UDP and TCP) that relays to UPSTREAM:53 and turns every NXDOMAIN
      for an A/AAAA question into NOERROR with an A record REWRITE (an ad-serving ISP resolver).
"""
import socket
import socketserver
import struct
import sys
import threading


def parse_qname(msg: bytes, off: int = 12):
    labels = []
    while off < len(msg):
        n = msg[off]
        if n == 0:
            return ".".join(labels).lower(), off + 1
        if n & 0xC0:
            return None, off
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return None, off


def checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def forged_response(query: bytes, addr: str) -> bytes | None:
    if len(query) < 12:
        return None
    qid = query[:2]
    name, end = parse_qname(query)
    if name is None or end + 4 > len(query):
        return None
    qtype = struct.unpack("!H", query[end:end + 2])[0]
    question = query[12:end + 4]
    if qtype != 1:
        return qid + struct.pack("!HHHHH", 0x8180, 1, 0, 0, 0) + question
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(addr)
    return qid + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + question + answer


def inject(iface: str, resolver: str, forged: str, names: set[str]) -> None:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((iface, 0))
    res = socket.inet_aton(resolver)
    print(f"injector on {iface}: {sorted(names)} -> {forged}", flush=True)
    while True:
        frame, _ = s.recvfrom(65535)
        if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17 or ip[16:20] != res:
            continue
        udp = ip[ihl:]
        sport, dport = struct.unpack("!HH", udp[:4])
        if dport != 53:
            continue
        dns = udp[8:]
        if len(dns) < 12 or dns[2] & 0x80:
            continue
        name, _ = parse_qname(dns)
        if name not in names:
            continue
        payload = forged_response(dns, forged)
        if payload is None:
            continue
        client = ip[12:16]
        udph = struct.pack("!HHHH", 53, sport, 8 + len(payload), 0)
        pseudo = res + client + struct.pack("!BBH", 0, 17, 8 + len(payload))
        csum = checksum(pseudo + udph + payload) or 0xFFFF
        udph = udph[:6] + struct.pack("!H", csum)
        total = 20 + len(udph) + len(payload)
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0x1234, 0, 250, 17, 0, res, client)
        iph = iph[:10] + struct.pack("!H", checksum(iph)) + iph[12:]
        eth = frame[6:12] + frame[0:6] + b"\x08\x00"
        s.send(eth + iph + udph + payload)
        print(f"forged {name} id {dns[:2].hex()} for {socket.inet_ntoa(client)}:{sport}", flush=True)


def rewrite(resp: bytes, query: bytes, addr: str) -> bytes:
    if len(resp) < 12 or (resp[3] & 0x0F) != 3:
        return resp
    name, end = parse_qname(query)
    if name is None or end + 4 > len(query):
        return resp
    qtype = struct.unpack("!H", query[end:end + 2])[0]
    if qtype not in (1, 28):
        return resp
    question = query[12:end + 4]
    if qtype == 1:
        answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(addr)
        return resp[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + question + answer
    return resp[:2] + struct.pack("!HHHHH", 0x8180, 1, 0, 0, 0) + question


def nxrewrite(listen: str, upstream: str, addr: str) -> None:
    def ask(q: bytes) -> bytes | None:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(2)
        try:
            u.sendto(q, (upstream, 53))
            return u.recv(65535)
        except OSError:
            return None
        finally:
            u.close()

    class UDP(socketserver.BaseRequestHandler):
        def handle(self):
            q, sock = self.request
            r = ask(q)
            if r is not None:
                sock.sendto(rewrite(r, q, addr), self.client_address)

    class TCP(socketserver.StreamRequestHandler):
        def handle(self):
            while True:
                h = self.rfile.read(2)
                if len(h) < 2:
                    return
                q = self.rfile.read(struct.unpack("!H", h)[0])
                r = ask(q)
                if r is None:
                    return
                r = rewrite(r, q, addr)
                self.wfile.write(struct.pack("!H", len(r)) + r)

    class TS(socketserver.ThreadingMixIn, socketserver.TCPServer):
        allow_reuse_address = True
        daemon_threads = True

    class US(socketserver.ThreadingMixIn, socketserver.UDPServer):
        daemon_threads = True

    t = TS((listen, 53), TCP)
    u = US((listen, 53), UDP)
    threading.Thread(target=t.serve_forever, daemon=True).start()
    print(f"nxrewrite on {listen}:53 -> {upstream}, NXDOMAIN -> {addr}", flush=True)
    u.serve_forever()


def tlsweb(listen: str, cert: str, key: str) -> None:
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    class H(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(10)
            try:
                t = ctx.wrap_socket(self.request, server_side=True)
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = t.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
                t.close()
            except (OSError, ssl.SSLError):
                pass

    class S(socketserver.ThreadingMixIn, socketserver.TCPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = S((listen, 443), H)
    print(f"tlsweb on {listen}:443 ({cert})", flush=True)
    srv.serve_forever()


def main() -> int:
    if sys.argv[1] == "tlsweb":
        tlsweb(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "inject":
        inject(sys.argv[2], sys.argv[3], sys.argv[4], set(sys.argv[5].split(",")))
    elif sys.argv[1] == "nxrewrite":
        nxrewrite(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        print("usage: middlebox.py inject|nxrewrite …", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
