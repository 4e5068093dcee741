"""`abby ask` against a local OpenAI-compatible server, and `abby persona`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Cli
from tests.support.openai_server import ChatServer


@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[ChatServer]:  # noqa: ANN001
    with ChatServer() as server:
        monkeypatch.setenv("ABBY_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("ABBY_LLM__PROVIDER", "openai")
        monkeypatch.setenv("ABBY_LLM__BASE_URL", server.base_url)
        monkeypatch.setenv("ABBY_LLM__API_KEY", "sk-cli-secret-987654")
        yield server


def test_ask_streams_the_reply_with_the_persona_system_prompt(
    cli: Cli, llm_env: ChatServer
) -> None:
    result = cli("ask", "how do levels work?")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "echo: how do levels work?"
    system = llm_env.requests[0]["body"]["messages"][0]["content"]
    assert system.startswith("You are Abby")


def test_ask_json_is_one_document(cli: Cli, llm_env: ChatServer) -> None:
    result = cli("ask", "hello", "--json")
    assert result.exit_code == 0, result.output
    assert result.json() == {"reply": "echo: hello", "model": "gpt-4o-mini", "sources": []}
    assert llm_env.requests[0]["body"].get("stream") in (None, False)


def test_ask_rate_limited_is_exit_75_without_the_key(cli: Cli, llm_env: ChatServer) -> None:
    llm_env.failures.extend([(429, {"error": {"message": "slow", "code": None}})] * 3)
    result = cli("ask", "hello", "--json")
    assert result.exit_code == 75, result.output
    assert result.json()["error"]["code"] == "rate_limited"
    assert "sk-cli-secret" not in result.stdout + result.stderr


def test_ask_without_a_provider_is_exit_78(cli, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setenv("ABBY_DATA_DIR", str(tmp_path / "data"))
    result = cli("ask", "hello")
    assert result.exit_code == 78
    assert "no LLM configured" in result.stderr


def test_persona_show_greet_and_operator_override(cli, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    data = tmp_path / "data"
    monkeypatch.setenv("ABBY_DATA_DIR", str(data))
    shown = cli("persona", "show", "--json").json()
    assert shown["name"] == "abby" and shown["greetings"]
    greeting = cli("persona", "greet", "Sam", "--json").json()["greeting"]
    assert "Sam" in greeting
    (data / "personas").mkdir(parents=True)
    (data / "personas" / "pirate.json").write_text(
        '{"name": "pirate", "system_prompt": "Arr.", "greetings": ["Ahoy {user}!"],'
        ' "dismissals": ["Fair winds."]}'
    )
    monkeypatch.setenv("ABBY_PERSONA__NAME", "pirate")
    assert cli("persona", "greet", "Sam", "--json").json() == {"greeting": "Ahoy Sam!"}
    names = [p["name"] for p in cli("persona", "list", "--json").json()]
    assert names == ["abby", "pirate"]
    missing = cli("persona", "show", "ghost")
    assert missing.exit_code == 3 and "no persona named 'ghost'" in missing.stderr
