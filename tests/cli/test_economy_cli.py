"""`abby xp` and `abby bank` as an operator runs them: output, JSON, exit codes, no changes
after an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli


@pytest.fixture
def abby(cli: Cli, backend_env: dict[str, str]) -> Cli:
    assert cli("db", "init").exit_code == 0  # readers need a set-up store (no new empty one)
    return cli


def test_xp_add_then_get_shows_level_rank_and_progress(abby) -> None:  # noqa: ANN001
    added = abby("xp", "add", "u1", "150", "--guild", "g", "--reason", "event", "--json")
    assert added.exit_code == 0, added.output
    body = added.json()
    assert (body["xp"], body["level"], body["previous_level"], body["leveled_up"]) == (
        150, 1, 0, True,
    )  # fmt: skip
    got = abby("xp", "get", "u1", "--guild", "g", "--json").json()
    assert {k: got[k] for k in ("user_id", "guild_id", "xp", "level", "rank")} == {
        "user_id": "u1", "guild_id": "g", "xp": 150, "level": 1, "rank": 1,
    }  # fmt: skip
    assert (got["xp_into_level"], got["xp_to_next"]) == (50, 105)
    human = abby("xp", "get", "u1", "--guild", "g")
    assert human.exit_code == 0 and "xp_to_next" in human.stdout


def test_xp_add_accepts_a_negative_correction(abby) -> None:  # noqa: ANN001
    abby("xp", "add", "u1", "100")
    result = abby("xp", "add", "u1", "-250", "--json")
    assert result.exit_code == 0, result.output
    assert result.json()["xp"] == 0


def test_xp_leaderboard_lists_ranks(abby) -> None:  # noqa: ANN001
    for user, xp in (("a", "10"), ("b", "30"), ("c", "20")):
        abby("xp", "add", user, xp, "-g", "g")
    rows = abby("xp", "leaderboard", "-g", "g", "--limit", "2", "--json").json()
    assert [(r["rank"], r["user_id"], r["xp"], r["level"]) for r in rows] == [
        (1, "b", 30, 0), (2, "c", 20, 0),
    ]  # fmt: skip
    assert abby("xp", "leaderboard", "-g", "empty", "--json").json() == []


def test_xp_settings_show_set_and_refuse(abby) -> None:  # noqa: ANN001
    shown = abby("xp", "settings", "--guild", "g", "--json").json()
    assert (shown["min_grant"], shown["cooldown_seconds"], shown["curve"]) == (15, 60, "mee6")
    changed = abby("xp", "settings", "cooldown_seconds", "30", "--guild", "g", "--json")
    assert changed.exit_code == 0, changed.output
    assert changed.json()["cooldown_seconds"] == 30
    channels = abby("xp", "settings", "ignored_channels", "111,222", "-g", "g", "--json").json()
    assert channels["ignored_channels"] == ["111", "222"]
    bad = abby("xp", "settings", "min_grant", "lots", "--guild", "g")
    assert bad.exit_code == 2 and "min_grant" in bad.stderr
    assert abby("xp", "settings", "--json").json()["cooldown_seconds"] == 60


def test_mee6_import_reports_counts_and_is_idempotent(abby, tmp_path: Path) -> None:  # noqa: ANN001
    export = tmp_path / "mee6.json"
    export.write_text(json.dumps({"players": [
        {"id": "1", "xp": 4675, "level": 10, "username": "a"},
        {"id": "2", "xp": 1899250, "level": 100},
    ]}))  # fmt: skip
    first = abby("xp", "import-mee6", str(export), "--guild", "g", "--yes", "--json")
    assert first.exit_code == 0, first.output
    assert (first.json()["players"], first.json()["changed"]) == (2, 2)
    again = abby("xp", "import-mee6", str(export), "--guild", "g", "--yes", "--json")
    assert again.json()["changed"] == 0, again.output
    assert abby("xp", "get", "2", "-g", "g", "--json").json()["level"] == 100


@pytest.mark.parametrize(
    ("content", "needle"),
    [("{not json", "not JSON"), ('{"members": []}', "players"),
     ('{"players": [{"id": "1", "xp": "many"}]}', "player #1")],
)  # fmt: skip
def test_mee6_import_refuses_malformed_files_with_one_line(
    abby: Cli,
    tmp_path: Path,
    content: str,
    needle: str,
) -> None:
    export = tmp_path / "bad.json"
    export.write_text(content)
    result = abby("xp", "import-mee6", str(export), "--guild", "g")
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert abby("xp", "leaderboard", "-g", "g", "--json").json() == []


def test_mee6_import_of_a_missing_file_is_not_found(abby, tmp_path: Path) -> None:  # noqa: ANN001
    result = abby("xp", "import-mee6", str(tmp_path / "nope.json"), "--guild", "g")
    assert result.exit_code == 3, result.output


def test_bank_add_transfer_history_and_balance(abby) -> None:  # noqa: ANN001
    minted = abby("bank", "add", "a", "100", "--reason", "seed", "--json")
    assert minted.exit_code == 0, minted.output
    moved = abby("bank", "transfer", "a", "b", "40", "--key", "k1", "--reason", "gift", "--json")
    assert moved.exit_code == 0, moved.output
    body = moved.json()
    assert {k: body[k] for k in ("transfer_id", "from_user", "to_user", "amount", "status")} == {
        "transfer_id": "k1", "from_user": "a", "to_user": "b", "amount": 40, "status": "done",
    }  # fmt: skip
    again = abby("bank", "transfer", "a", "b", "40", "--key", "k1", "--json")
    assert again.exit_code == 0 and again.json()["replayed"] is True
    assert abby("bank", "balance", "a", "--json").json() == {
        "user_id": "a", "guild_id": None, "balance": 60,
    }  # fmt: skip
    rows = abby("bank", "history", "a", "--json").json()
    assert [(r["transfer_id"], r["amount"], r["balance_after"], r["counterparty"], r["reason"])
            for r in rows][0] == ("k1", -40, 60, "b", "gift")  # fmt: skip
    assert rows[0]["at"].endswith("+00:00")
    burned = abby("bank", "add", "a", "-10", "--reason", "fine", "--json")
    assert burned.exit_code == 0 and burned.json()["kind"] == "burn"


def test_insufficient_funds_exits_4_and_changes_nothing(abby) -> None:  # noqa: ANN001
    abby("bank", "add", "a", "10", "--reason", "seed")
    result = abby("bank", "transfer", "a", "b", "11")
    assert result.exit_code == 4, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    as_json = abby("bank", "transfer", "a", "b", "11", "--json")
    assert as_json.exit_code == 4 and as_json.json()["error"]["code"] == "insufficient_funds"
    assert abby("bank", "balance", "a", "--json").json()["balance"] == 10
    assert abby("bank", "balance", "b", "--json").json()["balance"] == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["a", "b", "-5"], "positive"),
        (["a", "b", "abc"], "whole number"),
        (["a", "b", "1e3"], "whole number"),
        (["a", "b", "2.5"], "whole number"),
        (["a", "b", "0"], "positive"),
        (["a", "b", "1" * 30], "maximum"),
        (["a", "a", "5"], "same user"),
        (["a", "b", "5", "--guild", "no such guild!"], "guild id"),
        (["a", "b c", "5"], "payee id"),
        (["a", "b", "5", "--key", "bad key"], "idempotency key"),
    ],
)
def test_bad_transfer_input_is_one_clear_line_exit_2_and_changes_nothing(
    abby: Cli,
    args: list[str],
    needle: str,
) -> None:
    abby("bank", "add", "a", "100", "--reason", "seed")
    result = abby("bank", "transfer", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.output
    assert result.stdout == ""
    assert abby("bank", "balance", "a", "--json").json()["balance"] == 100
    assert abby("bank", "audit", "--json").json()["ok"] is True


def test_transfer_in_a_guild_where_the_payer_has_nothing_exits_4(abby) -> None:  # noqa: ANN001
    abby("bank", "add", "a", "100", "--reason", "seed")
    result = abby("bank", "transfer", "a", "b", "5", "--guild", "unknown-guild")
    assert result.exit_code == 4, result.output
    assert abby("bank", "balance", "a", "--json").json()["balance"] == 100


def test_audit_json_and_exit_code(abby, backend_env) -> None:  # noqa: ANN001
    abby("bank", "add", "a", "100", "--reason", "seed", "--guild", "g")
    abby("bank", "transfer", "a", "b", "25", "--guild", "g")
    report = abby("bank", "audit", "--json")
    assert report.exit_code == 0, report.output
    body = report.json()
    assert body["ok"] is True and body["problems"] == []
    assert [(s["guild_id"], s["total_balance"], s["minted"]) for s in body["scopes"]] == [
        ("g", 100, 100)
    ]
    human = abby("bank", "audit")
    assert human.exit_code == 0 and "audit ok" in human.stdout
    _tamper(backend_env)
    broken = abby("bank", "audit", "--json")
    assert broken.exit_code == 4, broken.output
    assert broken.json()["ok"] is False and broken.json()["problems"]


def test_recover_reports_counts(abby) -> None:  # noqa: ANN001
    result = abby("bank", "recover", "--older-than", "0", "--json")
    assert result.exit_code == 0, result.output
    assert result.json() == {
        "rolled_forward": 0, "rolled_back": 0, "markers_cleared": 0, "pending_left": 0,
        "dry_run": False, "steps": [],
    }  # fmt: skip


def _tamper(env: dict[str, str]) -> None:
    from core.config import load_settings
    from core.context import AppContext

    context = AppContext(load_settings(environ=env))
    try:
        db = context.database
        if db.backend == "sqlite":
            context.bank  # noqa: B018 - make sure the schema exists
            db.connection().execute("UPDATE bank_accounts SET balance = balance + 1")
        else:
            db.collection("bank_accounts").update_many({}, {"$inc": {"balance": 1}})
    finally:
        context.close()
