"""A file server on 127.0.0.1 standing in for Discord's attachment CDN.

Each route is a status, headers and a body; a redirect route points elsewhere. Every GET is
recorded, so a test can assert that a refused attachment was never downloaded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class AttachmentServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.fetched: list[str] = []

    def __enter__(self) -> AttachmentServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.fetched.append(self.path)
                route = server.routes.get(self.path, Route(b"not found", 404))
                self.send_response(route.status)
                headers = {"Content-Length": str(len(route.body)), **route.headers}
                for name, value in headers.items():
                    if value:  # "" leaves a header out (a body that ends when the socket does)
                        self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading at its cap: what the test wants

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self._server.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, **headers: str) -> str:
        self.routes[path] = Route(body, headers=headers)
        return self.url(path)
