#!/usr/bin/env python3
"""A local HTTPS server playing a Go module proxy and a checksum database, for dnsaudit's
--goproxy lab. Test fixture only: binds the address it is given, serves canned answers.

usage: goproxy_server.py ADDRESS PORT CERT KEY
  GET /<prefix>/golang.org/x/text/@v/list  -> a version list (the proxy protocol)
  GET /<prefix>/latest                     -> a signed-tree-head-like text (the sumdb protocol)
  GET /sumdb/<name>/supported              -> 404 (this proxy does not proxy the sumdb)
"""
import http.server
import ssl
import sys

ADDRESS, PORT, CERT, KEY = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.endswith("/@v/list"):
            body = b"v0.3.0\nv0.14.0\n"
        elif path.endswith("/latest"):
            body = b"go.sum database tree\n31\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 sum.lab.test lab\n"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("%s %s" % (self.address_string(), fmt % args), flush=True)


server = http.server.ThreadingHTTPServer((ADDRESS, PORT), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
