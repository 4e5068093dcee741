"""How the bank cog writes a ledger line and a leaderboard line (the e2e tests drive the
commands; these pin each kind of counterparty)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.cogs.bank import ledger_line, top_line
from core.economy.repository import BalanceRow, LedgerEntry

AT = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def _entry(amount: int, counterparty: str | None, reason: str | None) -> LedgerEntry:
    return LedgerEntry("t1", "1", "g", amount, 10, counterparty, reason, AT)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_entry(100, None, "daily"), "**+100** coins · daily reward · daily · <t:1773057600:R>"),
        (_entry(5, None, "event"), "**+5** coins · added by the bank · event"),
        (_entry(-5, None, None), "**-5** coins · taken by the bank · <t:"),
        (_entry(-7, "42", "lunch"), "**-7** coins · <@42> · lunch"),
        (_entry(7, "forgotten-ab12", None), "**+7** coins · `forgotten-ab12` · <t:"),
        (_entry(1, "42", "@here *bold* <@&9>"), "· @\u200bhere \\*bold\\* <\u200b@&9>"),
    ],
    ids=["daily", "mint", "burn", "member", "pseudonym", "hostile-reason"],
)
def test_a_ledger_line_names_the_other_side_without_pinging(
    entry: LedgerEntry, expected: str
) -> None:
    assert expected in ledger_line(entry, "coins")


def test_a_leaderboard_line_has_rank_mention_and_amount() -> None:
    row = BalanceRow(rank=3, user_id="42", guild_id="g", balance=1_234_567)
    assert top_line(row, "coins") == "**#3** <@42> · 1,234,567 coins"
