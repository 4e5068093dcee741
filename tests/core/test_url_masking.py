"""Issue #9, finding 7 (URLs): credentials inside a URL never reach a screen or a log.

Credentials in base URLs (`http://user:pass@...`) appeared in `config show`, in error
messages and in `abby.log`.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ServiceUnavailable
from core.telemetry.logs import setup_logging
from core.urls import mask_url, mask_urls

PASSWORD = "s3cr3t-pw-9f2"


@pytest.mark.parametrize(
    "url,shown",
    [
        (f"http://alice:{PASSWORD}@proxy:8080/v1", "http://alice:***@proxy:8080/v1"),
        (f"mongodb://bob:{PASSWORD}@h1,h2/db?rs=x", "mongodb://bob:***@h1,h2/db?rs=x"),
        (f"mongodb+srv://bob:p@ss{PASSWORD}@cluster.net/", "mongodb+srv://bob:***@cluster.net/"),
        (f"https://{PASSWORD}@git.example/x", "https://***@git.example/x"),
        (f"http://:{PASSWORD}@host", "http://***@host"),
        ("http://host:80/path@version?q=a@b#c@d", "http://host:80/path@version?q=a@b#c@d"),
        ("https://api.stability.ai", "https://api.stability.ai"),
    ],
)
def test_mask_url_hides_the_password_and_keeps_the_rest(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_mask_urls_masks_every_url_in_a_line() -> None:
    text = f"tried http://a:{PASSWORD}@h1/ then https://tok{PASSWORD}@h2 and failed"
    assert mask_urls(text) == "tried http://a:***@h1/ then https://***@h2 and failed"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://alice:{PASSWORD}@127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def credentialed_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, http_url: str) -> str:
    dead = f"http://alice:{PASSWORD}@127.0.0.1:{_closed_port()}/v1"
    values = {
        "ABBY_DATA_DIR": str(tmp_path / "data"),
        "ABBY_LLM__PROVIDER": "openai",
        "ABBY_LLM__BASE_URL": dead,
        "ABBY_LLM__API_KEY": "sk-test-key-123456",
        "ABBY_LLM__TIMEOUT_SECONDS": "3",
        "ABBY_EMBEDDINGS__PROVIDER": "openai",
        "ABBY_EMBEDDINGS__BASE_URL": http_url,
        "ABBY_RAG__CHROMA_URL": f"http://carol:{PASSWORD}@127.0.0.1:{_closed_port()}",
        "ABBY_IMAGES__BASE_URL": f"https://dave:{PASSWORD}@stability.example",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return dead


def test_config_show_masks_url_credentials_in_text_and_json(cli, credentialed_env) -> None:  # noqa: ANN001
    human = cli("config", "show")
    assert human.exit_code == 0, human.output
    assert PASSWORD not in human.output
    assert 'llm.base_url = "http://alice:***@127.0.0.1:' in human.stdout
    as_json = cli("config", "show", "--json")
    assert as_json.exit_code == 0 and PASSWORD not in as_json.output
    data = as_json.json()
    assert data["images"]["base_url"] == "https://dave:***@stability.example"
    assert data["rag"]["chroma_url"].startswith("http://carol:***@127.0.0.1:")


@pytest.mark.slow
def test_an_unreachable_llm_error_masks_its_url_on_screen_and_in_the_log(
    cli,  # noqa: ANN001
    credentialed_env: str,
    tmp_path: Path,
) -> None:
    for args in (("ask", "hello"), ("ask", "hello", "--json")):
        result = cli(*args)
        assert result.exit_code == 75, result.output
        assert PASSWORD not in result.output
        assert "alice:***@127.0.0.1" in result.output
    log = tmp_path / "data" / "logs" / "abby.log"
    assert PASSWORD not in (log.read_text() if log.exists() else "")


def test_an_unreachable_mongodb_error_never_shows_the_password(
    cli,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ABBY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(
        "ABBY_DATABASE__URI", f"mongodb://bob:{PASSWORD}@127.0.0.1:{_closed_port()}/"
    )
    monkeypatch.setenv("ABBY_DATABASE__SERVER_SELECTION_TIMEOUT_MS", "200")
    result = cli("db", "status", "--json")
    assert result.exit_code == 75, result.output
    assert PASSWORD not in result.output and "127.0.0.1" in result.output


def test_doctor_shows_service_urls_without_credentials(cli, credentialed_env, http_url) -> None:  # noqa: ANN001
    result = cli("doctor", "--json")
    assert PASSWORD not in result.output, result.output
    rows = {row["name"]: row for row in result.json()}
    assert rows["embeddings"]["status"] == "ok"  # reachable: the real probe answered
    assert "alice:***@127.0.0.1" in rows["embeddings"]["detail"]
    assert rows["llm"]["status"] == "warn" and "alice:***@" in rows["llm"]["detail"]
    assert "carol:***@" in rows["chroma_server"]["detail"]


def test_every_log_line_and_traceback_masks_url_credentials(tmp_path: Path) -> None:
    settings = load_settings(environ={"ABBY_DATA_DIR": str(tmp_path / "data")})
    setup_logging("INFO", tmp_path / "logs", settings=settings)
    try:
        log = logging.getLogger("abby.test")
        log.info("probing %s", f"http://alice:{PASSWORD}@llm.local/v1")
        log.warning("mongo at mongodb://bob:%s@db.local/abby", PASSWORD)
        try:
            raise OSError(f"cannot reach https://{PASSWORD}@proxy.local")
        except OSError:
            log.exception("request failed")
    finally:
        setup_logging("WARNING", None)
    text = (tmp_path / "logs" / "abby.log").read_text()
    assert PASSWORD not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["message"] == "probing http://alice:***@llm.local/v1"
    assert records[1]["message"] == "mongo at mongodb://bob:***@db.local/abby"
    assert "https://***@proxy.local" in records[2]["exc"]


def test_a_typed_error_never_carries_url_credentials() -> None:
    error = ServiceUnavailable(f"the LLM server at http://u:{PASSWORD}@h/v1 is unreachable")
    assert PASSWORD not in str(error) and PASSWORD not in repr(error.args)
    assert "http://u:***@h/v1" in str(error)
