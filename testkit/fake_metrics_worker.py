"""A stand-in worker for the outage tests (not a product): it serves a fixed outbox
`/metrics` page on 127.0.0.1:PORT while the flag file exists, and closes its listener
while it does not — "the worker runs but its metrics are down". The cockpit only grades
a `/metrics` served by the process it started (or a descendant), so the page must come
from the worker command itself, not from the test process.

usage: fake_metrics_worker.py PORT FLAG_FILE TAG   (TAG: a unique word for pkill -f)
"""
import http.server
import os
import sys
import threading
import time

PAGE = (
    b"# TYPE outbox_processed_total counter\n"
    b'outbox_processed_total{projection="search_index_to_elastic",op="upsert"} 3\n'
)


class Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


def main():
    port, flag = int(sys.argv[1]), sys.argv[2]
    server = None
    while True:
        wanted = os.path.exists(flag)
        if wanted and server is None:
            try:
                server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Metrics)
                threading.Thread(target=server.serve_forever, daemon=True).start()
            except OSError:
                server = None
        elif not wanted and server is not None:
            server.shutdown()
            server.server_close()
            server = None
        time.sleep(0.05)


if __name__ == "__main__":
    main()
