"""A Docker API stand-in over TLS that demands a client certificate, the way a
`dockerd --tlsverify` does. It answers `/_ping`, `/version` and an empty
`/containers/json`; anything else is 404. Each request is printed on stdout as
`METHOD PATH | USER-AGENT`, after the first line, which is the port it listens on.

usage: tls_docker_standin.py CA_PEM SERVER_PEM SERVER_KEY_PEM
"""

import http.server
import json
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, with_body):
        agent = self.headers.get("User-Agent", "")
        print(f"{self.command} {self.path} | {agent}", flush=True)
        if self.path.endswith("/_ping"):
            status, body = 200, b"OK"
        elif self.path.endswith("/version"):
            status, body = 200, json.dumps(
                {"Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12"}
            ).encode()
        elif "/containers/json" in self.path:
            status, body = 200, b"[]"
        else:
            status, body = 404, b'{"message":"the TLS stand-in has no such endpoint"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self.answer(True)

    def do_POST(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)

    def log_message(self, *args):
        pass


def main():
    ca, cert, key = sys.argv[1:4]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(ca)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
