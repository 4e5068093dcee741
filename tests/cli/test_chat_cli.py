"""`abby chat` and `abby ask --user` against a local OpenAI-compatible server."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from tests.support.openai_server import ChatServer


@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch, backend_env) -> Iterator[ChatServer]:  # noqa: ANN001
    with ChatServer() as server:
        monkeypatch.setenv("ABBY_LLM__PROVIDER", "openai")
        monkeypatch.setenv("ABBY_LLM__BASE_URL", server.base_url)
        monkeypatch.setenv("ABBY_LLM__API_KEY", "sk-cli-chat-123456")
        yield server


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_chat_streams_each_answer_and_exit_closes_with_a_summary(cli, llm_env, monkeypatch) -> None:  # noqa: ANN001
    assert cli("keys", "generate", "--write").exit_code == 0
    _stdin(monkeypatch, "what is XP?\n\nand levels?\n/exit\nnever asked\n")
    result = cli("chat", "--user", "u1")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[0] == "echo: what is XP?" and out[1] == "echo: and levels?"
    assert out[2].startswith("summary: echo: ")  # the test server echoes the summary prompt
    asked = [r["body"]["messages"][-1]["content"] for r in llm_env.requests]
    assert asked[:2] == ["what is XP?", "and levels?"]
    assert "never asked" not in " ".join(asked)
    assert llm_env.requests[1]["body"]["messages"][1:3] == [
        {"role": "user", "content": "what is XP?"},
        {"role": "assistant", "content": "echo: what is XP?"},
    ]
    sessions = cli("session", "list", "--json").json()
    assert [(s["user_id"], s["status"], s["turns"]) for s in sessions] == [("u1", "closed", 4)]
    dump = cli("session", "dump", sessions[0]["session_id"], "--json").json()
    assert dump["summary"].startswith("echo: ")


def test_chat_json_is_one_document_with_every_turn(cli, llm_env, monkeypatch) -> None:  # noqa: ANN001
    assert cli("keys", "generate", "--write").exit_code == 0
    _stdin(monkeypatch, "hello\n")  # the end of input closes it too
    result = cli("chat", "--user", "u2", "--json")
    assert result.exit_code == 0, result.output
    document = result.json()
    assert [t["reply"] for t in document["turns"]] == ["echo: hello"]
    assert document["turns"][0]["new_conversation"] is True
    assert document["session_id"] == document["turns"][0]["session_id"]


def test_chat_without_a_key_asks_the_model_nothing(cli, llm_env, monkeypatch) -> None:  # noqa: ANN001
    _stdin(monkeypatch, "hello\n/exit\n")
    result = cli("chat", "--json")
    assert result.exit_code == 78, result.output
    assert result.json()["error"]["code"] == "missing_key"
    assert llm_env.requests == []


def test_chat_without_an_llm_is_exit_78_before_reading(cli, backend_env, monkeypatch) -> None:  # noqa: ANN001
    _stdin(monkeypatch, "hello\n")
    result = cli("chat")
    assert result.exit_code == 78 and "no LLM configured" in result.stderr


def test_ask_with_a_user_joins_that_members_conversation(cli, llm_env) -> None:  # noqa: ANN001
    assert cli("keys", "generate", "--write").exit_code == 0
    first = cli("ask", "first", "--user", "u3", "--json").json()
    second = cli("ask", "second", "--user", "u3", "--json").json()
    assert first["session_id"] == second["session_id"] is not None
    assert [m["content"] for m in llm_env.requests[-1]["body"]["messages"][1:]] == [
        "first",
        "echo: first",
        "second",
    ]


def test_ask_with_a_user_but_no_key_is_exit_78_and_no_model_call(cli, llm_env) -> None:  # noqa: ANN001
    result = cli("ask", "hello", "--user", "u4", "--json")
    assert result.exit_code == 78 and result.json()["error"]["code"] == "missing_key"
    assert llm_env.requests == []
