#!/usr/bin/env python3
"""A DNS-over-QUIC (RFC 9250) test server on aioquic: answers A queries for one local zone,
refuses everything else (no recursion). Test fixture only: binds the address it is given.

usage: doq_server.py ADDRESS PORT CERT KEY ZONE ANSWER_IPV4
"""
import asyncio
import struct
import sys

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import StreamDataReceived

ADDRESS, PORT, CERT, KEY, ZONE, ANSWER = sys.argv[1:7]
ZONE = ZONE.lower().rstrip(".")


def answer(query: bytes) -> bytes:
    """The response to one DNS query: A for names in ZONE, REFUSED otherwise, FORMERR when unparseable."""
    if len(query) < 12:
        return b""
    qid, flags = struct.unpack("!HH", query[:4])
    labels, i = [], 12
    try:
        while query[i] != 0:
            n = query[i]
            labels.append(query[i + 1:i + 1 + n].decode("ascii").lower())
            i += 1 + n
        qtype, qclass = struct.unpack("!HH", query[i + 1:i + 5])
        question = query[12:i + 5]
    except (IndexError, UnicodeDecodeError, struct.error):
        return struct.pack("!HHHHHH", qid, 0x8001, 0, 0, 0, 0)
    name = ".".join(labels)
    rd = flags & 0x0100
    if name == ZONE or name.endswith("." + ZONE):
        if qtype == 1 and qclass == 1:
            rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(int(x) for x in ANSWER.split("."))
            return struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, 1, 0, 0) + question + rr
        return struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, 0, 0, 0) + question
    return struct.pack("!HHHHHH", qid, 0x8005 | rd, 1, 0, 0, 0) + question  # REFUSED: no recursion


class DoQProtocol(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.buffers = {}

    def quic_event_received(self, event):
        if not isinstance(event, StreamDataReceived):
            return
        data = self.buffers.get(event.stream_id, b"") + event.data
        self.buffers[event.stream_id] = data
        if not event.end_stream:
            return
        del self.buffers[event.stream_id]
        if len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
            self._quic.close(error_code=0x2, reason_phrase="malformed")  # DOQ_PROTOCOL_ERROR
            return
        response = answer(data[2:2 + struct.unpack("!H", data[:2])[0]])
        self._quic.send_stream_data(event.stream_id, struct.pack("!H", len(response)) + response, end_stream=True)
        self.transmit()


async def run(alpn_protocols, protocol):
    """Serves `protocol` with `alpn_protocols` on ADDRESS PORT with CERT KEY; prints "ready" once bound.
    Also the DoH/3 fixture's server loop (Tests/Fixtures/doh3/doh3_server.py)."""
    config = QuicConfiguration(is_client=False, alpn_protocols=alpn_protocols)
    config.load_cert_chain(CERT, KEY)
    await serve(ADDRESS, int(PORT), configuration=config, create_protocol=protocol)
    print("ready", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(run(["doq"], DoQProtocol))
