"""An OpenAI-compatible chat server on 127.0.0.1 for tests, driven by the real openai SDK.

It answers POST /v1/chat/completions, plain or streamed (server-sent events), with a reply
built from the request ("echo: <last user message>", or `reply` when set), records every
request, and can be told to fail the next requests with a given status and error body.

Latency, for benchmarks and streaming tests: `delay` seconds before answering (before the
first token of a stream), `token_delay` seconds between streamed tokens. `first_token_at`
records, per streamed answer, the monotonic time its first token was written.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatServer:
    def __init__(
        self, *, delay: float = 0.0, token_delay: float = 0.0, reply: str | None = None
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures: deque[tuple[int, dict[str, Any]]] = deque()
        self.finish_reason = "stop"
        self.delay = delay
        self.token_delay = token_delay
        self.reply = reply
        self.first_token_at: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                if server.failures:
                    status, error = server.failures.popleft()
                    self._json(status, error)
                    return
                if self.path != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "no such path", "code": None}})
                    return
                last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
                reply = server.reply if server.reply is not None else f"echo: {last}"
                if server.delay:
                    time.sleep(server.delay)
                if body.get("stream"):
                    self._stream(body["model"], reply)
                else:
                    self._json(200, _completion(body["model"], reply, server.finish_reason))

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, model: str, reply: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                words = reply.split(" ")
                for index, word in enumerate(words):
                    if index and server.token_delay:
                        time.sleep(server.token_delay)
                    piece = word if index == 0 else " " + word
                    chunk = _chunk(model, {"content": piece}, None)
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    if index == 0:
                        server.first_token_at.append(time.monotonic())
                final = _chunk(model, {}, server.finish_reason)
                self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _completion(model: str, reply: str, finish_reason: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
