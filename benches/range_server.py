#!/usr/bin/python3
"""A static HTTP/1.1 server with byte ranges, for benchmarks on loopback only.

    range_server.py ROOT

Serves the files under ROOT on 127.0.0.1 (a free port), keeping connections alive, with
`Range: bytes=A-B` answered by 206 and the body sent with sendfile(2). Prints
{"event": "listening", "port": N} once ready, then serves until killed.
"""

import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        relative = urllib.parse.unquote(self.path.split("?", 1)[0]).lstrip("/")
        path = os.path.realpath(os.path.join(ROOT, relative))
        if not path.startswith(ROOT + os.sep) or not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(path)
        first, last, status = 0, size - 1, 200
        spec = self.headers.get("Range", "")
        if spec.startswith("bytes="):
            a, _, b = spec[6:].partition("-")
            first = int(a) if a else 0
            last = min(int(b), size - 1) if b else size - 1
            status = 206
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size))
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        with open(path, "rb") as f:
            offset, left = first, last - first + 1
            while left > 0:
                sent = os.sendfile(self.wfile.fileno(), f.fileno(), offset, left)
                if sent == 0:
                    break
                offset += sent
                left -= sent


ROOT = os.path.realpath(sys.argv[1])
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(json.dumps({"event": "listening", "port": server.server_address[1]}), flush=True)
server.serve_forever()
