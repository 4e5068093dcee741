"""The bank contract: every behaviour holds on SQLite and on MongoDB."""

from __future__ import annotations

import pytest

from core import economy
from core.context import AppContext
from core.economy.levels import MAX_INT64
from core.errors import IdempotencyConflict, InsufficientFunds, InvalidInput, LimitExceeded
from core.scope import Scope


def _total(context: AppContext, users: str, guild: str | None = None) -> int:
    return sum(context.bank.balance(u, guild_id=guild).balance for u in users)


def test_a_missing_account_reads_as_zero_and_nothing_is_created(context: AppContext) -> None:
    assert context.bank.balance("nobody", guild_id="g").balance == 0
    assert context.bank.history("nobody", guild_id="g") == []
    assert context.bank.audit().scopes == ()


def test_mint_and_burn_record_the_reason_and_never_go_below_zero(context: AppContext) -> None:
    minted = context.bank.add("a", 100, reason="daily", guild_id="g")
    assert (minted.kind, minted.status, minted.balance_after) == ("mint", "done", 100)
    assert context.bank.add("a", -40, reason="shop", guild_id="g").kind == "burn"
    with pytest.raises(InsufficientFunds):
        context.bank.add("a", -61, reason="too much", guild_id="g")
    assert context.bank.balance("a", guild_id="g").balance == 60
    history = context.bank.history("a", guild_id="g")
    assert [(e.amount, e.balance_after, e.reason) for e in history] == [
        (-40, 60, "shop"),
        (100, 100, "daily"),
    ]
    report = context.bank.audit()
    assert report.ok, report.problems
    assert (report.scopes[0].minted, report.scopes[0].burned) == (100, 40)


def test_transfer_moves_money_and_writes_both_ledger_sides(context: AppContext) -> None:
    context.bank.add("a", 100, reason="seed")
    moved = context.bank.transfer("a", "b", 30, reason="lunch")
    assert (moved.status, moved.from_user, moved.to_user, moved.amount) == ("done", "a", "b", 30)
    assert (context.bank.balance("a").balance, context.bank.balance("b").balance) == (70, 30)
    (debit, _) = context.bank.history("a")
    (credit,) = context.bank.history("b")
    assert (debit.amount, debit.counterparty, debit.balance_after) == (-30, "b", 70)
    assert (credit.amount, credit.counterparty, credit.balance_after) == (30, "a", 30)
    assert debit.transfer_id == credit.transfer_id == moved.transfer_id
    assert debit.at.tzinfo is not None
    assert context.bank.audit().ok


def test_insufficient_funds_changes_nothing(context: AppContext) -> None:
    context.bank.add("a", 10)
    with pytest.raises(InsufficientFunds):
        context.bank.transfer("a", "b", 11)
    assert economy.transfer("a", "b", 11) is False
    assert (context.bank.balance("a").balance, context.bank.balance("b").balance) == (10, 0)
    assert len(context.bank.history("a")) == 1
    assert context.bank.history("b") == []
    assert context.bank.audit().ok


@pytest.mark.parametrize(
    ("amount", "error"),
    [(0, ValueError), (-5, ValueError), (1.5, TypeError), (True, TypeError), ("5", TypeError),
     (2**63, ValueError)],
)  # fmt: skip
def test_invalid_amounts_raise_and_change_nothing(
    context: AppContext, amount: object, error: type[Exception]
) -> None:
    context.bank.add("a", 10)
    with pytest.raises(error):
        economy.transfer("a", "b", amount)  # type: ignore[arg-type]
    assert context.bank.balance("a").balance == 10


def test_transfer_to_oneself_is_refused(context: AppContext) -> None:
    context.bank.add("a", 10)
    with pytest.raises(ValueError, match="same user"):
        context.bank.transfer("a", "a", 5)


def test_idempotency_key_applies_once_and_replays_the_outcome(context: AppContext) -> None:
    context.bank.add("a", 100)
    first = context.bank.transfer("a", "b", 40, idempotency_key="order-1")
    again = context.bank.transfer("a", "b", 40, idempotency_key="order-1")
    assert (first.transfer_id, again.transfer_id, again.replayed) == ("order-1", "order-1", True)
    assert context.bank.balance("a").balance == 60
    assert economy.transfer("a", "b", 40, idempotency_key="order-1") is True
    assert context.bank.balance("b").balance == 40


@pytest.mark.parametrize(
    ("change", "field"),
    [({"amount": 41}, "amount"), ({"to_user": "c"}, "payee"), ({"from_user": "c"}, "payer"),
     ({"guild_id": "g"}, "guild")],
)  # fmt: skip
def test_a_key_reused_for_another_transfer_is_a_conflict_naming_the_field(
    context: AppContext, change: dict[str, object], field: str
) -> None:
    context.bank.add("a", 100)
    context.bank.add("c", 100)
    context.bank.transfer("a", "b", 40, idempotency_key="k")
    args = {"from_user": "a", "to_user": "b", "amount": 40, "guild_id": None, **change}
    with pytest.raises(IdempotencyConflict, match=field):
        context.bank.transfer(idempotency_key="k", **args)  # type: ignore[arg-type]
    assert _total(context, "abc") == 200
    assert context.bank.balance("b").balance == 40


def test_a_failed_key_stays_failed_even_after_funding(context: AppContext) -> None:
    context.bank.add("a", 5)
    with pytest.raises(InsufficientFunds):
        context.bank.transfer("a", "b", 10, idempotency_key="k1")
    context.bank.add("a", 100)
    with pytest.raises(InsufficientFunds, match="new key"):
        context.bank.transfer("a", "b", 10, idempotency_key="k1")
    assert context.bank.transfer("a", "b", 10, idempotency_key="k2").status == "done"
    assert context.bank.balance("b").balance == 10
    assert context.bank.get_transfer("k1").status == "failed"
    assert context.bank.audit().ok


def test_balances_are_capped_at_int64_and_never_wrap(context: AppContext) -> None:
    context.bank.add("rich", MAX_INT64)
    with pytest.raises(LimitExceeded):  # refused by a rule: exit 4, not a usage error
        context.bank.add("rich", 1)
    context.bank.add("a", 10)
    with pytest.raises(LimitExceeded):
        context.bank.transfer("a", "rich", 1)
    assert context.bank.balance("rich").balance == MAX_INT64
    assert context.bank.balance("a").balance == 10
    report = context.bank.audit()
    assert report.ok, report.problems
    assert report.scopes[0].total_balance == MAX_INT64 + 10


def test_guild_accounts_are_separate_from_global(context: AppContext) -> None:
    context.bank.add("a", 50, guild_id="g1")
    assert context.bank.balance("a").balance == 0
    assert economy.transfer("a", "b", 10) is False
    assert economy.transfer("a", "b", 10, "g1") is True
    assert economy.get_balance("b", "g1") == 10
    assert economy.get_balance("b") == 0
    scopes = {s.guild_id: s.total_balance for s in context.bank.audit().scopes}
    assert scopes == {"g1": 50}
    assert context.bank.audit(Scope.of("g1")).ok


def test_seed_add_currency_returns_the_balance_or_refuses_a_burn(context: AppContext) -> None:
    result = economy.add_currency("a", 25, "welcome", "g")
    assert (result["success"], result["balance"]) == (True, 25)
    refused = economy.add_currency("a", -30, "fine", "g")
    assert (refused["success"], refused["balance"]) == (False, 25)
    assert economy.get_balance("a", "g") == 25
    with pytest.raises(ValueError):
        economy.add_currency("a", 0, "nothing", "g")


def test_bad_ids_keys_and_reasons_are_refused(context: AppContext) -> None:
    with pytest.raises(InvalidInput):
        context.bank.transfer("a", "b c", 1)
    with pytest.raises(InvalidInput):
        context.bank.transfer("a", "b", 1, idempotency_key="has space")
    with pytest.raises(InvalidInput):
        context.bank.add("a", 1, reason="x" * 201)
    with pytest.raises(InvalidInput):
        context.bank.balance("a", guild_id="not a guild!")


def test_audit_finds_tampered_books(context: AppContext) -> None:
    context.bank.add("a", 100)
    context.bank.transfer("a", "b", 30)
    db = context.database
    if db.backend == "sqlite":
        db.connection().execute("UPDATE bank_accounts SET balance = 999 WHERE user_id = 'b'")
    else:
        db.collection("bank_accounts").update_one({"user_id": "b"}, {"$set": {"balance": 999}})
    report = context.bank.audit()
    assert not report.ok
    assert any("minted minus burned" in p for p in report.problems)
    assert any("ledger adds up" in p for p in report.problems)
