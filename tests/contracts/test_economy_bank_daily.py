"""The daily reward, the member's paged ledger, the balance leaderboard and payments to bots:
each on SQLite and on MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.clock import FrozenClock
from core.config import BankSettings
from core.context import AppContext
from core.economy.bank import BankService, daily_key
from core.economy.levels import MAX_INT64
from core.errors import AlreadyClaimed, InvalidInput, RecipientIsBot, Refused

LATE = datetime(2026, 3, 9, 23, 59, 30, tzinfo=UTC)


def _bank(context: AppContext, clock: FrozenClock, daily_amount: int = 100) -> BankService:
    """A bank on the test's store with its own clock (the repository is the context's)."""
    return BankService(
        repo=context.bank._repo,
        settings=BankSettings(daily_amount=daily_amount),
        clock=clock,
    )


def test_daily_pays_once_per_utc_day_and_says_when_the_next_opens(context: AppContext) -> None:
    clock = FrozenClock(LATE)
    bank = _bank(context, clock)
    claim = bank.daily("u1", guild_id="g")
    assert (claim.amount, claim.balance, claim.day) == (100, 100, "2026-03-09")
    assert claim.next_at == datetime(2026, 3, 10, tzinfo=UTC)
    with pytest.raises(AlreadyClaimed) as refused:
        bank.daily("u1", guild_id="g")
    assert refused.value.fields["next_at"] == datetime(2026, 3, 10, tzinfo=UTC)
    assert refused.value.exit_code == 4
    assert "2026-03-10 00:00 UTC" in str(refused.value)
    assert bank.balance("u1", guild_id="g").balance == 100
    clock.advance(31)  # past UTC midnight: a new day
    assert bank.daily("u1", guild_id="g").day == "2026-03-10"
    assert bank.balance("u1", guild_id="g").balance == 200
    assert [e.reason for e in bank.history("u1", guild_id="g")] == ["daily", "daily"]
    assert bank.audit().ok


def test_daily_is_counted_per_guild_and_per_member(context: AppContext) -> None:
    bank = _bank(context, FrozenClock(LATE))
    bank.daily("u1", guild_id="g")
    bank.daily("u1", guild_id="h")
    bank.daily("u1")  # the global scope is its own
    bank.daily("u2", guild_id="g")
    assert bank.balance("u1", guild_id="g").balance == 100
    assert bank.balance("u1", guild_id="h").balance == 100
    assert bank.balance("u1").balance == 100
    assert bank.balance("u2", guild_id="g").balance == 100


def test_a_changed_daily_amount_the_same_day_still_pays_once(context: AppContext) -> None:
    clock = FrozenClock(LATE)
    _bank(context, clock, 100).daily("u1", guild_id="g")
    with pytest.raises(AlreadyClaimed):
        _bank(context, clock, 250).daily("u1", guild_id="g")
    assert context.bank.balance("u1", guild_id="g").balance == 100


def test_daily_turned_off_pays_nothing(context: AppContext) -> None:
    bank = _bank(context, FrozenClock(LATE), daily_amount=0)
    with pytest.raises(Refused, match="turned off"):
        bank.daily("u1", guild_id="g")
    assert context.bank.history("u1", guild_id="g") == []


def test_the_daily_key_of_the_longest_ids_stays_a_valid_unique_key() -> None:
    a, b = daily_key("g" * 64, "u" * 64, "2026-03-09"), daily_key("g" * 64, "v" * 64, "2026-03-09")
    assert a != b and len(a) <= 128 and len(b) <= 128


def test_history_pages_newest_first_without_gaps_or_repeats(context: AppContext) -> None:
    for n in range(1, 8):
        context.bank.add("u1", n, reason=f"r{n}", guild_id="g")
    pages = [context.bank.history("u1", guild_id="g", limit=3, offset=o) for o in (0, 3, 6, 9)]
    assert [[e.amount for e in page] for page in pages] == [[7, 6, 5], [4, 3, 2], [1], []]


def test_a_payments_ledger_names_the_counterparty_on_each_side(context: AppContext) -> None:
    context.bank.add("a", 50, reason="seed", guild_id="g")
    context.bank.transfer("a", "b", 20, reason="lunch", guild_id="g")
    (mine,) = context.bank.history("b", guild_id="g", limit=5)
    assert (mine.amount, mine.counterparty, mine.reason) == (20, "a", "lunch")


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (10_001, 0), (5, -1), (5, 10**7)])
def test_history_refuses_a_bad_page(context: AppContext, limit: int, offset: int) -> None:
    with pytest.raises(InvalidInput):
        context.bank.history("u1", guild_id="g", limit=limit, offset=offset)


def test_leaderboard_ranks_balances_in_one_guild_ties_by_id(context: AppContext) -> None:
    for user, amount in (("c", 30), ("a", 30), ("b", 90), ("d", 5)):
        context.bank.add(user, amount, reason="seed", guild_id="g")
    context.bank.add("rich", 10_000, reason="elsewhere", guild_id="h")
    context.bank.add("spent", 10, reason="seed", guild_id="g")
    context.bank.add("spent", -10, reason="shop", guild_id="g")  # 0: not on the board
    rows = context.bank.leaderboard("g", limit=10)
    assert [(r.rank, r.user_id, r.balance) for r in rows] == [
        (1, "b", 90), (2, "a", 30), (3, "c", 30), (4, "d", 5)
    ]  # fmt: skip
    second = context.bank.leaderboard("g", limit=2, offset=2)
    assert [(r.rank, r.user_id) for r in second] == [(3, "c"), (4, "d")]
    assert context.bank.leaderboard("g", limit=2, offset=4) == []
    assert [r.user_id for r in context.bank.leaderboard("h")] == ["rich"]
    assert context.bank.leaderboard(None) == []


def test_leaderboard_refuses_more_than_a_hundred_rows(context: AppContext) -> None:
    with pytest.raises(InvalidInput):
        context.bank.leaderboard("g", limit=101)


def test_a_payment_to_a_bot_is_refused_and_nothing_moves(context: AppContext) -> None:
    context.bank.add("a", 50, reason="seed", guild_id="g")
    with pytest.raises(RecipientIsBot) as refused:
        context.bank.transfer("a", "bot1", 10, guild_id="g", payee_is_bot=True)
    assert refused.value.exit_code == 4
    assert context.bank.balance("a", guild_id="g").balance == 50
    assert context.bank.balance("bot1", guild_id="g").balance == 0
    assert len(context.bank.history("a", guild_id="g")) == 1


def test_a_daily_at_the_balance_cap_pays_nothing_and_a_retry_pays_nothing(
    context: AppContext,
) -> None:
    bank = _bank(context, FrozenClock(LATE))
    bank.add("full", MAX_INT64, reason="seed", guild_id="g")
    for _ in range(2):  # the retry: a fresh refusal (SQLite) or the failed key's (MongoDB)
        with pytest.raises(Refused) as refused:
            bank.daily("full", guild_id="g")
        assert not isinstance(refused.value, AlreadyClaimed)
        assert "nothing was paid" in str(refused.value) or "maximum" in str(refused.value)
    assert bank.balance("full", guild_id="g").balance == MAX_INT64
    assert bank.audit().ok
