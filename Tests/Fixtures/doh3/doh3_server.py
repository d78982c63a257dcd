#!/usr/bin/env python3
"""A DNS-over-HTTPS over HTTP/3 (RFC 8484 on RFC 9114) test server on aioquic: GET ?dns= and POST
on /dns-query, answered like the DoQ fixture (A for names in one local zone, REFUSED otherwise; no
recursion). Test fixture only: binds the address it is given. With ALPN "doq" as the last argument
it serves DoQ instead (Tests/Fixtures/doq/doq_server.py), for DDR designations with alpn=doq.

usage: doh3_server.py ADDRESS PORT CERT KEY ZONE ANSWER_IPV4 [doq]
"""
import asyncio
import base64
import os
import sys
from urllib.parse import parse_qs, urlsplit

from aioquic.asyncio import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "doq"))
import doq_server  # noqa: E402  (same arguments: ADDRESS PORT CERT KEY ZONE ANSWER; its answer() and run())

MODE = sys.argv[7] if len(sys.argv) > 7 else "h3"


class DoH3Protocol(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = None
        self.requests = {}

    def respond(self, stream_id, status, body, content_type="application/dns-message"):
        self.h3.send_headers(stream_id, [(b":status", str(status).encode()), (b"content-type", content_type.encode()),
                                         (b"content-length", str(len(body)).encode())])
        self.h3.send_data(stream_id, body, end_stream=True)
        self.transmit()

    def finish(self, stream_id):
        headers, body = self.requests.pop(stream_id)
        method, path = headers.get(b":method", b""), headers.get(b":path", b"").decode("ascii", "replace")
        url = urlsplit(path)
        if url.path != "/dns-query":
            return self.respond(stream_id, 404, b"not found\n", "text/plain")
        if method == b"GET":
            try:
                q = parse_qs(url.query).get("dns", [""])[0]
                query = base64.urlsafe_b64decode(q + "=" * (-len(q) % 4))
            except ValueError:
                return self.respond(stream_id, 400, b"bad dns parameter\n", "text/plain")
        elif method == b"POST":
            query = body
        else:
            return self.respond(stream_id, 405, b"", "text/plain")
        response = doq_server.answer(query)
        if not response:
            return self.respond(stream_id, 400, b"bad query\n", "text/plain")
        self.respond(stream_id, 200, response)

    def quic_event_received(self, event):
        if self.h3 is None:
            self.h3 = H3Connection(self._quic)
        for e in self.h3.handle_event(event):
            if isinstance(e, HeadersReceived):
                self.requests[e.stream_id] = (dict(e.headers), b"")
                if e.stream_ended:
                    self.finish(e.stream_id)
            elif isinstance(e, DataReceived) and e.stream_id in self.requests:
                headers, body = self.requests[e.stream_id]
                self.requests[e.stream_id] = (headers, body + e.data)
                if e.stream_ended:
                    self.finish(e.stream_id)


if __name__ == "__main__":
    if MODE == "doq":
        asyncio.run(doq_server.run(["doq"], doq_server.DoQProtocol))
    else:
        asyncio.run(doq_server.run(H3_ALPN, DoH3Protocol))
