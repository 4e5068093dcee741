"""A Stability-compatible HTTP server for tests: real sockets on 127.0.0.1, real PNG bytes.

It answers the v2beta endpoints Abby uses (generate core/ultra/sd3, sd3 image-to-image
with its required image and strength, upscale fast/conservative/creative, results polling)
and records every request with its parsed multipart parts, so tests assert both what the
client sent and how it handled each answer. Tests queue
replies per path (`queue(path, reply, ...)`); with nothing queued a request succeeds.
Started in a thread (`StabilityServer().start()`), or as a process for subprocess tests:
`python -m tests.support.stability_server --key KEY` prints `URL http://127.0.0.1:PORT`.
"""

from __future__ import annotations

import argparse
import json
import struct
import threading
import time
import zlib
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEST_KEY = "sk-test-abby-0123456789abcdef"


def make_png(width: int = 16, height: int = 16, rgb: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A valid RGB PNG built with zlib and struct only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


# What an image-to-image request gets back: visibly not the text-to-image answer.
VARIED_PNG = make_png(16, 16, (40, 80, 200))


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def image_reply(finish_reason: str = "SUCCESS", seed: int = 1234, size: int = 16) -> Reply:
    return Reply(
        200,
        make_png(size, size),
        {"Content-Type": "image/png", "finish-reason": finish_reason, "seed": str(seed)},
    )


def error_reply(status: int, name: str, *errors: str) -> Reply:
    body = json.dumps({"id": "err-" + str(status), "name": name, "errors": list(errors)})
    return Reply(status, body.encode(), {"Content-Type": "application/json"})


def json_reply(status: int, payload: dict) -> Reply:
    return Reply(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    fields: dict[str, str]
    files: dict[str, tuple[str | None, str, bytes]]


class StabilityServer:
    def __init__(self, key: str = TEST_KEY) -> None:
        self.key = key
        self.requests: list[Recorded] = []
        self._script: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._url = ""

    @property
    def url(self) -> str:
        assert self._url, "start() the server first"
        return self._url

    def queue(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._script[path].extend(replies)

    def _next(self, path: str) -> Reply | None:
        with self._lock:
            queued = self._script.get(path)
            return queued.popleft() if queued else None

    def count(self, path_prefix: str = "/") -> int:
        return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    def start(self) -> str:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                return

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fields, files = _parse_multipart(self.headers.get("Content-Type", ""), body)
                record = Recorded(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    fields,
                    files,
                )
                with server._lock:
                    server.requests.append(record)
                reply = server.answer(record)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self._url = f"http://{host}:{port}"
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self.url

    def answer(self, record: Recorded) -> Reply:
        if record.headers.get("authorization") != f"Bearer {self.key}":
            return error_reply(401, "unauthorized", "authorization: invalid or missing API key")
        queued = self._next(record.path)
        if queued is not None:
            return queued
        if record.path.endswith("/upscale/creative"):
            return json_reply(200, {"id": "job-" + str(len(self.requests))})
        if record.path.startswith("/v2beta/results/"):
            return image_reply(size=64)
        if record.path.startswith("/v2beta/stable-image/upscale/"):
            return image_reply(size=64)
        if record.path.startswith("/v2beta/stable-image/generate/"):
            if "prompt" not in record.fields:
                return error_reply(400, "bad_request", "prompt: is required")
            if record.fields.get("mode") == "image-to-image":
                # As Stability's SD3 endpoint: an input image and a strength, or a 400.
                if "image" not in record.files or "strength" not in record.fields:
                    return error_reply(400, "bad_request", "image-to-image: image and strength")
                return Reply(200, VARIED_PNG, {**image_reply().headers})
            return image_reply()
        return error_reply(404, "not_found", f"{record.path} not found")

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def _parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, tuple[str | None, str, bytes]]]:
    fields: dict[str, str] = {}
    files: dict[str, tuple[str | None, str, bytes]] = {}
    if not content_type.startswith("multipart/form-data"):
        return fields, files
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename is None:
            fields[name] = payload.decode("utf-8")
        else:
            files[name] = (filename, part.get_content_type(), payload)
    return fields, files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", default=TEST_KEY)
    args = parser.parse_args()
    server = StabilityServer(args.key)
    print(f"URL {server.start()}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
