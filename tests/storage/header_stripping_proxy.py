"""An HTTP proxy that forwards to an S3 server but drops If-None-Match and If-Match from every request.

It stands for the S3-compatible servers that accept conditional headers and ignore them, so the tests can show
the start-up probe refusing such a store. Run as `python header_stripping_proxy.py LISTEN_PORT UPSTREAM_URL`.
"""

from __future__ import annotations

import http.client
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

STRIPPED = {"if-none-match", "if-match"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host"}


def make_handler(upstream: str) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in STRIPPED | HOP_BY_HOP}
            headers["Host"] = self.headers.get("Host", target.netloc)
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            finally:
                connection.close()
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
            pass

    return Handler


if __name__ == "__main__":
    port, upstream = int(sys.argv[1]), sys.argv[2]
    ThreadingHTTPServer(("127.0.0.1", port), make_handler(upstream)).serve_forever()
