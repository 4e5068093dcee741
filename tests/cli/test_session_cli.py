"""`abby session` on both backends: metadata-only listing, dumps, close, purge, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.context import AppContext
from tests.conftest import Cli
from tests.core.security_support import corrupt_message, stored_tokens

DUMP_KEYS = {
    "session_id",
    "user_id",
    "guild_id",
    "channel_id",
    "status",
    "created_at",
    "closed_at",
    "summary",
    "messages",
}


@pytest.fixture
def keyed(cli: Cli, backend_env: dict[str, str], context: AppContext) -> AppContext:
    result = cli("keys", "generate", "--write")
    assert result.exit_code == 0, result.output
    return context


def events(backend_env: dict[str, str]) -> list[dict]:
    path = Path(backend_env["ABBY_DATA_DIR"]) / "telemetry" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_list_and_show_print_metadata_and_never_content(cli: Cli, keyed: AppContext) -> None:
    sid = keyed.sessions.create("u1", "c1", "g1")
    keyed.sessions.append(sid, "user", "very private words")
    other = keyed.sessions.create("u2", "c1", None)
    listed = cli("session", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = listed.json()
    assert {r["session_id"] for r in rows} == {sid, other}
    assert "very private" not in listed.stdout
    only = cli("session", "list", "--user", "u2", "--guild", "global", "--json").json()
    assert [r["session_id"] for r in only] == [other]
    shown = cli("session", "show", sid, "--json")
    assert shown.exit_code == 0 and shown.json()["turns"] == 1, shown.output
    assert "very private" not in shown.stdout
    table = cli("session", "list")
    assert table.exit_code == 0 and "u1" in table.stdout


def test_dump_json_has_the_documented_shape_and_is_audited(
    cli: Cli, keyed: AppContext, backend_env: dict[str, str]
) -> None:
    sid = keyed.sessions.create("u1", "c1", "g1")
    keyed.sessions.append_many(sid, [("user", "hello"), ("assistant", "hi there")])
    closed = cli("session", "close", sid, "--summary", "a greeting", "--yes", "--json")
    assert closed.exit_code == 0 and closed.json()["status"] == "closed", closed.output
    assert "a greeting" not in closed.stdout
    result = cli("session", "dump", sid, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = result.json()
    assert DUMP_KEYS <= set(doc)
    assert doc["summary"] == "a greeting"
    assert [(m["role"], m["content"]) for m in doc["messages"]] == [
        ("user", "hello"),
        ("assistant", "hi there"),
    ]
    assert all(set(m) >= {"role", "content", "at"} for m in doc["messages"])
    [event] = [e for e in events(backend_env) if e["type"] == "governance.sessions.dump"]
    assert event["payload"]["session_id"] == sid and event["payload"]["message_count"] == 2
    assert "hello" not in json.dumps(event)


def test_dump_markdown_to_a_private_file(cli: Cli, keyed: AppContext, tmp_path: Path) -> None:
    sid = keyed.sessions.create("u1", "c1", "g1")
    keyed.sessions.append(sid, "user", "written to disk")
    target = tmp_path / "out" / "t.md"
    refused = cli("session", "dump", sid, "-o", str(target))
    assert refused.exit_code == 3 and "no such directory" in refused.stderr, refused.output
    assert not (tmp_path / "out").exists()  # a typo never creates a directory tree
    (tmp_path / "out").mkdir()
    result = cli("session", "dump", sid, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "written to disk" not in result.stdout
    text = target.read_text()
    assert text.startswith(f"# Session {sid}") and "written to disk" in text
    assert (target.stat().st_mode & 0o777) == 0o600


def test_dump_shows_the_rest_when_one_message_is_tampered_and_one_key_is_gone(
    cli: Cli, keyed: AppContext
) -> None:
    key_a = keyed.keys.ring().keys[0]
    sid = keyed.sessions.create("u1", "c1", "g1")
    keyed.sessions.append_many(sid, [("user", "one"), ("assistant", "two")])
    assert cli("keys", "generate", "--write").exit_code == 0
    keyed.sessions.append(sid, "user", "three")  # under the new key, which is then lost
    keyed.keys.source.write_file([key_a])
    keyed.sessions.append(sid, "assistant", "four")
    corrupt_message(keyed, sid, 1)
    before = stored_tokens(keyed, sid)

    result = cli("session", "dump", sid, "--json")
    assert result.exit_code == 0, result.output
    doc = result.json()
    contents = [m["content"] for m in doc["messages"]]
    assert contents[1] == "two" and contents[3] == "four"
    assert contents[0].startswith("[undecryptable: ") and contents[2].startswith("[undecryptable:")
    assert doc["undecryptable"] == [1, 3]
    assert "seq 1, 3" in result.stderr
    md = cli("session", "dump", sid)
    assert md.exit_code == 0 and "[undecryptable: key " in md.stdout and "four" in md.stdout
    assert stored_tokens(keyed, sid) == before


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["session", "dump", "0" * 32], 3),
        (["session", "show", "0" * 32], 3),
        (["session", "close", "0" * 32], 3),
        (["session", "dump", "../../etc/passwd"], 2),
        (["session", "list", "--status", "open"], 2),
        (["session", "purge", "--older-than", "soon", "--yes"], 2),
        (["session", "purge", "--older-than", "1d"], 2),  # no terminal, no --yes
        (["session", "dump", "x", "--format", "pdf"], 2),
    ],
)
def test_bad_session_commands_are_one_clear_error_with_the_documented_code(
    cli: Cli, keyed: AppContext, argv: list[str], code: int
) -> None:
    sid = keyed.sessions.create("u1", "c1", "g1")
    keyed.sessions.append(sid, "user", "keep me")
    result = cli(*argv)
    assert result.exit_code == code, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert keyed.sessions.require(sid).turns == 1


def test_purge_from_cron_deletes_only_ended_sessions(
    cli: Cli, keyed: AppContext, backend_env: dict[str, str]
) -> None:
    ended = keyed.sessions.create("u1", "c1", "g1")
    keyed.sessions.append(ended, "user", "old")
    keyed.sessions.close(ended)
    active = keyed.sessions.create("u2", "c1", "g1")
    preview = cli("session", "purge", "--older-than", "0s", "--dry-run", "--json")
    assert preview.exit_code == 0 and preview.json()["sessions"] == 1, preview.output
    assert keyed.sessions.require(ended).status == "closed"
    done = cli("session", "purge", "--older-than", "0s", "--yes", "--json")
    assert done.exit_code == 0, done.output
    assert (done.json()["sessions"], done.json()["messages"]) == (1, 1)
    assert [r.session_id for r in keyed.sessions.list()] == [active]
    purges = [e for e in events(backend_env) if e["type"] == "governance.sessions.purge"]
    assert [e["payload"]["session_count"] for e in purges] == [1, 1]
