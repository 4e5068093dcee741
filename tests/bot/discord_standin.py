"""A Discord REST stand-in on 127.0.0.1 that records what the real discord.py client sends.

It answers the calls a bot makes to log in, sync its commands and answer interactions
(responses, follow-ups, edits, channel messages), and keeps each request's method, path and
JSON payload (the `payload_json` part of a multipart upload too), so tests assert on exactly
what would have reached Discord. Point the library at it with
`monkeypatch.setattr(discord.http.Route, "BASE", standin.base_url)`; the webhook adapter
(follow-ups) shares that base.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

APPLICATION_ID = 900000000000000001
BOT_USER = {
    "id": str(APPLICATION_ID),
    "username": "abby",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}
_ids = itertools.count(910000000000000000)


@dataclass
class Recorded:
    method: str
    path: str
    payload: dict[str, Any] | list[Any] | None


@dataclass
class DiscordStandIn:
    requests: list[Recorded] = field(default_factory=list)

    def __enter__(self) -> DiscordStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0].removeprefix("/api/v10")
                payload = _payload(self.headers.get("Content-Type", ""), body)
                standin.requests.append(Recorded(self.command, path, payload))
                status, reply = _reply(self.command, path, payload)
                data = json.dumps(reply).encode() if reply is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v10"

    def messages(self) -> list[Recorded]:
        """Every request that carries message content: responses, follow-ups, edits, posts."""
        return [
            r
            for r in self.requests
            if r.method in ("POST", "PATCH")
            and isinstance(r.payload, dict)
            and (
                "/callback" in r.path
                or r.path.startswith("/webhooks/")
                or r.path.endswith("/messages")
            )
        ]

    def command_syncs(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "PUT" and r.path.endswith("/commands")]


def _payload(content_type: str, body: bytes) -> dict[str, Any] | list[Any] | None:
    if not body:
        return None
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in parsed.iter_parts():
            if part.get_param("name", header="content-disposition") == "payload_json":
                return json.loads(part.get_content())
        return {}
    return json.loads(body)


def _message(payload: dict[str, Any] | None, channel_id: str = "700") -> dict[str, Any]:
    payload = payload or {}
    data = payload.get("data", payload)  # an interaction response wraps its message in "data"
    return {
        "id": str(next(_ids)),
        "channel_id": channel_id,
        "type": 0,
        "content": data.get("content") or "",
        "author": BOT_USER,
        "embeds": data.get("embeds") or [],
        "attachments": [],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "timestamp": "2026-03-01T12:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "pinned": False,
        "flags": data.get("flags", 0),
        "components": [],
    }


def _reply(method: str, path: str, payload: Any) -> tuple[int, Any]:  # noqa: ANN401
    if path == "/users/@me":
        return 200, BOT_USER
    if path == "/oauth2/applications/@me":
        return 200, {
            "id": str(APPLICATION_ID),
            "name": "Abby",
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": BOT_USER,
            "verify_key": "0" * 64,
            "flags": 1 << 19,  # message content intent granted
        }
    if method == "PUT" and path.endswith("/commands"):
        return 200, [
            {**c, "id": str(next(_ids)), "application_id": str(APPLICATION_ID), "version": "1"}
            for c in payload or []
        ]
    if match := re.fullmatch(r"/interactions/(\d+)/[^/]+/callback", path):
        resource = {"type": payload["type"]}
        if payload["type"] in (4, 7):  # a message, or an edit of the component's message
            resource["message"] = _message(payload)
        return 200, {"interaction": {"id": match[1], "type": 2}, "resource": resource}
    if path.startswith("/webhooks/") or re.fullmatch(r"/channels/(\d+)/messages", path):
        channel = path.split("/")[2] if path.startswith("/channels/") else "700"
        return 200, _message(payload, channel)
    return 404, {"message": "404: Not Found", "code": 0}
