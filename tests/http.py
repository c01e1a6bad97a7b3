"""Small pieces for the HTTP servers that tests stand up in place of another system (a
Kubernetes API server, a model runtime)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that does not log each request to stderr."""

    def log_message(self, *args):
        pass


class StandIn:
    """Base of a stand-in server: `start(handler_class)` serves it; `close()` stops it."""

    def start(self, handler_class):
        self.httpd, self.url = serve_in_thread(handler_class)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def send_json(handler, status, document, headers=None):
    """Answer the request `handler` (a BaseHTTPRequestHandler) with `document` as JSON."""
    data = json.dumps(document).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def serve_in_thread(handler_class):
    """(server, base URL): a threading HTTP server on a free loopback port, serving in a daemon
    thread. Close it with server.shutdown() and server.server_close()."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"
