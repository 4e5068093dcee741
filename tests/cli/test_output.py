"""Output people can act on: --plain, ids that never wrap, names beside ids, tables,
whole passages, weak hits marked, profiles created and cleared from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.context import AppContext
from tests.conftest import Cli


@pytest.fixture
def abby(cli, backend_env, context: AppContext):  # noqa: ANN001, ANN201 - a set-up store
    assert cli("db", "init").exit_code == 0  # readers never create a store
    return cli


def test_plain_is_tab_separated_with_a_header_and_nothing_cut(abby, context) -> None:  # noqa: ANN001
    long_id = "9" * 60
    context.xp.add(long_id, 300, guild_id="g")
    context.xp.add("7", 100, guild_id="g")
    context.users.upsert("7", "a name\twith a tab", guild_id="g")
    result = abby("xp", "leaderboard", "-g", "g", "--plain")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == [
        "rank", "user_id", "name", "xp", "level", "xp_into_level", "xp_for_next",
    ]  # fmt: skip
    assert lines[1].split("\t")[:4] == ["1", long_id, "", "300"]
    assert lines[2].split("\t")[:3] == ["2", "7", "a name\\twith a tab"]
    record = abby("xp", "get", "7", "-g", "g", "--plain").stdout.splitlines()
    assert "xp\t100" in record and all(line.count("\t") == 1 for line in record)


def test_every_command_with_json_also_takes_plain(cli) -> None:  # noqa: ANN001
    from typer.main import get_command

    from abby_cli.main import GROUPS, app

    root = get_command(app)
    missing = []
    for group in GROUPS:
        for name, command in root.get_command(None, group).commands.items():
            names = {p.name for p in command.params}
            if "json_out" in names and "plain" not in names:
                missing.append(f"{group} {name}")
    assert missing == []


def test_id_columns_are_never_wrapped_in_a_narrow_table(abby, context, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("COLUMNS", "60")
    assert abby("keys", "generate", "--write").exit_code == 0
    ids = [context.sessions.create(f"user{i}", "channel-of-some-length", "g1") for i in range(2)]
    result = abby("session", "list")
    assert result.exit_code == 0, result.output
    for session_id in ids:
        assert any(session_id in line for line in result.stdout.splitlines()), result.stdout


def test_leaderboard_shows_the_name_of_members_with_a_profile(abby, context) -> None:  # noqa: ANN001
    context.xp.add("1", 500, guild_id="g")
    context.xp.add("2", 400, guild_id="g")
    context.xp.add("3", 300, guild_id="g")
    context.users.upsert("1", "ann", guild_id="g")
    context.users.upsert("2", "bob")  # only a global profile: still a name to show
    context.users.update("2", {"display_name": "Bobby"})
    rows = abby("xp", "leaderboard", "-g", "g", "--json").json()
    assert [(r["user_id"], r["name"]) for r in rows] == [("1", "ann"), ("2", "Bobby"), ("3", None)]
    table = abby("xp", "leaderboard", "-g", "g").stdout
    assert "ann" in table and "Bobby" in table


def test_storage_quota_and_usage_print_tables_not_dicts(abby) -> None:  # noqa: ANN001
    quota = abby("storage", "quota", "u1")
    assert quota.exit_code == 0, quota.output
    assert "images today" in quota.stdout and "{" not in quota.stdout
    usage = abby("storage", "usage")
    assert usage.exit_code == 0, usage.output
    assert "total_mb" in usage.stdout and "{" not in usage.stdout and "[" not in usage.stdout
    assert set(abby("storage", "quota", "u1", "--json").json()) == {"global", "user", "daily"}


def test_user_add_set_unset_and_set_on_a_new_id(abby, context) -> None:  # noqa: ANN001
    added = abby("user", "add", "11", "--name", "ann", "--guild", "g", "--json")
    assert added.exit_code == 0 and added.json()["username"] == "ann", added.output
    again = abby("user", "add", "11", "--name", "ann", "--guild", "g")
    assert again.exit_code == 2 and "already has a profile" in again.stderr, again.output
    assert abby("user", "set", "11", "bio", "hello", "-g", "g").exit_code == 0
    cleared = abby("user", "set", "11", "bio", "--unset", "-g", "g", "--json")
    assert cleared.exit_code == 0 and cleared.json()["bio"] is None, cleared.output
    refused = abby("user", "set", "11", "username", "--unset", "-g", "g")
    assert refused.exit_code == 2 and "cannot be cleared" in refused.stderr, refused.output
    both = abby("user", "set", "11", "bio", "x", "--unset", "-g", "g")
    assert both.exit_code == 2, both.output
    created = abby("user", "set", "12", "display_name", "Cat", "--json")
    assert created.exit_code == 0, created.output
    assert (created.json()["username"], created.json()["display_name"]) == ("12", "Cat")
    assert context.users.require("12").display_name == "Cat"
    bad = abby("user", "set", "13", "timezone", "Mars/Olympus")
    assert bad.exit_code == 2 and context.users.get("13") is None, bad.output


def test_a_corrupt_database_is_a_failed_doctor_row_and_exit_78_elsewhere(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "abby.db").write_bytes(b"this is not a database, it is a text file" * 20)
    (data / "abby.db").chmod(0o600)
    monkeypatch.setenv("ABBY_DATA_DIR", str(data))
    doctor = cli("doctor", "--json")
    assert doctor.exit_code == 1, doctor.output
    rows = {row["name"]: row for row in doctor.json()}
    assert rows["database"]["status"] == "fail" and "damaged" in rows["database"]["detail"]
    assert "Traceback" not in doctor.stderr
    audit = cli("bank", "audit", "--json")
    assert audit.exit_code == 78, audit.output
    assert audit.json()["error"]["code"] == "database_corrupt"


@pytest.mark.slow
def test_rag_query_full_shows_whole_passages_and_marks_weak_hits(abby, tmp_path: Path) -> None:  # noqa: ANN001
    docs = tmp_path / "docs"
    docs.mkdir()
    long = "Rotate encryption keys with abby keys rotate. " + "Each batch is resumable. " * 20
    (docs / "keys.md").write_text(f"# Keys\n\n{long}")
    assert abby("rag", "ingest", str(docs)).exit_code == 0
    cut = abby("rag", "query", "how do I rotate encryption keys", "--plain")
    full = abby("rag", "query", "how do I rotate encryption keys", "--plain", "--full")
    assert "…" in cut.stdout and "…" not in full.stdout
    assert full.stdout.count("Each batch is resumable.") == 20
    off = abby("rag", "query", "how do I bake sourdough bread", "--json")
    assert off.json() and all(hit["weak"] for hit in off.json()), off.output
    on = abby("rag", "query", "how do I rotate encryption keys", "--json").json()
    assert on[0]["weak"] is False
    human = abby("rag", "query", "how do I bake sourdough bread")
    assert "weak" in human.stdout and "below 0.3" in human.stderr
    assert json.loads(abby("rag", "query", "rotate keys", "--json").stdout)
