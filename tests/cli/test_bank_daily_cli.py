"""`abby bank daily`, `abby bank top` and `abby bank history --offset` as an operator runs
them, on both backends."""

from __future__ import annotations

import pytest


@pytest.fixture
def abby(cli, backend_env):  # noqa: ANN001, ANN201 - the CLI on the test's backend
    assert cli("db", "init").exit_code == 0
    return cli


def test_bank_daily_pays_once_and_the_second_claim_exits_4(abby) -> None:  # noqa: ANN001
    first = abby("bank", "daily", "u1", "-g", "g", "--json")
    assert first.exit_code == 0, first.output
    body = first.json()
    assert (body["amount"], body["balance"], body["transfer_id"]) == (
        100, 100, f"daily:g:u1:{body['day']}",
    )  # fmt: skip
    assert body["next_at"].endswith("T00:00:00+00:00")
    again = abby("bank", "daily", "u1", "-g", "g")
    assert again.exit_code == 4, again.output
    assert len(again.stderr.strip().splitlines()) == 1
    assert "already claimed today" in again.stderr and "UTC" in again.stderr
    as_json = abby("bank", "daily", "u1", "-g", "g", "--json")
    assert as_json.json()["error"]["code"] == "already_claimed"
    assert abby("bank", "balance", "u1", "-g", "g", "--json").json()["balance"] == 100


def test_bank_top_ranks_the_guilds_balances(abby) -> None:  # noqa: ANN001
    for user, amount in (("a", "10"), ("b", "30"), ("c", "20")):
        abby("bank", "add", user, amount, "--reason", "seed", "-g", "g")
    rows = abby("bank", "top", "-g", "g", "-n", "2", "--json").json()
    assert [(r["rank"], r["user_id"], r["balance"]) for r in rows] == [(1, "b", 30), (2, "c", 20)]
    rest = abby("bank", "top", "-g", "g", "-n", "2", "--offset", "2", "--json").json()
    assert [(r["rank"], r["user_id"]) for r in rest] == [(3, "a")]
    empty = abby("bank", "top", "-g", "nobody")
    assert empty.exit_code == 0 and "No balances" in empty.stdout + empty.stderr


def test_bank_history_offset_turns_the_page(abby) -> None:  # noqa: ANN001
    for n in range(1, 5):
        abby("bank", "add", "a", str(n), "--reason", f"r{n}")
    page = abby("bank", "history", "a", "-n", "2", "--offset", "2", "--json").json()
    assert [row["amount"] for row in page] == [2, 1]
