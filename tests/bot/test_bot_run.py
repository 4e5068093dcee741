"""`abby bot run` start-up failures: the real discord.py HTTP client against 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import discord.http
import pytest

from bot.app import run
from core.config import load_settings
from core.context import AppContext
from core.errors import ConfigError, ServiceUnavailable


@pytest.fixture
def refusing_discord() -> Iterator[str]:
    """A Discord API stand-in that answers every request with 401 Unauthorized."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # http.server's name for it
            seen.append(self.path)
            body = json.dumps({"message": "401: Unauthorized", "code": 0}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v10"
    server.shutdown()
    server.server_close()
    assert seen and seen[0].endswith("/users/@me")


def _context(**discord_settings: object) -> AppContext:
    # Start-up never reaches the database, so one backend is enough here.
    return AppContext(load_settings(environ={}, overrides={"discord": discord_settings}))


def test_no_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no Discord token"):
        run(_context())


def test_a_refused_token_is_a_config_error_that_never_shows_it(
    refusing_discord: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)  # restored after
    with pytest.raises(ConfigError, match="refused the token") as caught:
        run(_context(token="secret-token-value-123", api_base_url=refusing_discord))
    assert "secret-token-value-123" not in str(caught.value)


def test_unreachable_discord_is_a_temporary_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)  # restored after
    with pytest.raises(ServiceUnavailable, match="cannot reach Discord"):
        run(_context(token="secret-token-value-123", api_base_url="http://127.0.0.1:9/api/v10"))
