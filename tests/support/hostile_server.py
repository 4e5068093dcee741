"""A misbehaving HTTP server on 127.0.0.1 for the client hardening tests: raw sockets, so it
can send what no well-behaved framework would (an endless body, a 10 GB Content-Length, one
byte a second, gzip garbage, a redirect elsewhere).

Each accepted connection reads one request, records it, then runs the behaviour given to the
server. `sent` counts the body bytes the server managed to hand to the kernel, so a test can
show that a client stopped reading at its cap. Every behaviour gives up after `max_seconds`,
so a client without a deadline still lets the test finish (and fail).
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

CHUNK = b"x" * 65536

Behaviour = Callable[["HostileServer", socket.socket], None]


class HostileServer:
    def __init__(self, behaviour: Behaviour, *, max_seconds: float = 20.0) -> None:
        self.behaviour = behaviour
        self.max_seconds = max_seconds
        self.requests: list[bytes] = []
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                request = _read_request(conn)
                with self._lock:
                    self.requests.append(request)
                self.behaviour(self, conn)
            except OSError:
                pass  # the client hung up: that is what most tests want

    def running(self, started: float) -> bool:
        return not self._stop.is_set() and time.monotonic() - started < self.max_seconds

    def count(self, n: int) -> None:
        with self._lock:
            self.sent += n


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        body += piece
    return head + b"\r\n\r\n" + body


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def endless(content_type: str, *, content_length: int | None = None) -> Behaviour:
    """200, then body bytes as fast as the client takes them, for ever (or max_seconds)."""

    def run(server: HostileServer, conn: socket.socket) -> None:
        headers = {"Content-Type": content_type, "Connection": "close"}
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        conn.sendall(_head("200 OK", headers))
        started = time.monotonic()
        while server.running(started):
            conn.sendall(CHUNK)
            server.count(len(CHUNK))

    return run


def trickle(response: bytes, *, interval: float) -> Behaviour:
    """Send a whole response one byte every `interval` seconds (a slowloris answer)."""

    def run(server: HostileServer, conn: socket.socket) -> None:
        started = time.monotonic()
        for index in range(len(response)):
            if not server.running(started):
                return
            conn.sendall(response[index : index + 1])
            server.count(1)
            time.sleep(interval)

    return run


def fixed(status: str, headers: dict[str, str], body: bytes) -> Behaviour:
    """One response exactly as given (Content-Length from the body unless given)."""

    def run(server: HostileServer, conn: socket.socket) -> None:
        conn.sendall(_head(status, {"Content-Length": str(len(body)), **headers}) + body)
        server.count(len(body))

    return run


def response_bytes(status: str, headers: dict[str, str], body: bytes) -> bytes:
    headers = {"Content-Length": str(len(body)), "Connection": "close", **headers}
    return _head(status, headers) + body


def gzip_garbage() -> bytes:
    """A gzip header followed by bytes no inflater accepts."""
    return gzip.compress(b"{}")[:10] + b"\xff\xfe this is not deflate data \x00" * 4


def chat_completion(reply: str = "plain reply") -> dict[str, Any]:
    return {
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
            }
        ],
    }


def json_bytes(payload: object) -> bytes:
    return json.dumps(payload).encode()
