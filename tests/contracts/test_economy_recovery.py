"""Interrupted movements: a crash injected before every single database call of a transfer
or a mint, then recovery; the books must balance and every key apply exactly once.

On SQLite a movement is one transaction, so a crash anywhere leaves nothing behind; on MongoDB
the transfer document and the pending markers let recovery finish or undo it. (The real
SIGKILL test with separate processes is tests/contracts/test_economy_processes.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.context import AppContext
from core.errors import InsufficientFunds, ServiceUnavailable
from core.scope import Scope

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs (not even except Exception)."""


class Budget:
    def __init__(self, crash_at: int) -> None:
        self.calls = 0
        self.crash_at = crash_at
        self.crashed = False

    def tick(self) -> None:
        self.calls += 1
        if self.calls == self.crash_at:
            self.crashed = True
            raise Crash


class Proxy:
    """Counts every method call on the wrapped object and crashes at the chosen one."""

    def __init__(self, target: Any, budget: Budget) -> None:
        self._target, self._budget = target, budget

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._budget.tick()
            return attr(*args, **kwargs)

        return call


def _crashing_repo(context: AppContext, budget: Budget) -> Any:
    db = context.database
    if db.backend == "sqlite":
        from core.economy._sqlite_bank import SqliteBankRepository

        repo = SqliteBankRepository(db)
        real = db.connection

        class CrashingDb:
            def __getattr__(self, name: str) -> Any:
                return getattr(db, name)

            def connection(self) -> Any:
                return Proxy(real(), budget)

        wrapper = CrashingDb()
        wrapper.transaction = type(db).transaction.__get__(wrapper)  # type: ignore[attr-defined]
        repo._db = wrapper  # type: ignore[assignment]
        return repo
    from core.economy._mongo_bank import MongoBankRepository

    repo = MongoBankRepository(db)
    for name in ("_accounts", "_transfers", "_ledger"):
        setattr(repo, name, Proxy(getattr(repo, name), budget))
    return repo


def _service(context: AppContext, repo: Any) -> Any:
    from core.economy.bank import BankService

    return BankService(repo=repo, settings=context.settings.bank, clock=context.clock)


@pytest.mark.parametrize("kind", ["transfer", "mint", "burn"])
def test_a_crash_before_any_step_is_recovered_with_books_balanced(
    context: AppContext, kind: str
) -> None:
    crash_at = 1
    while True:
        guild = f"g{crash_at}"
        context.bank.add("a", 100, guild_id=guild)
        budget = Budget(crash_at)
        crashing = _service(context, _crashing_repo(context, budget))
        key = f"{kind}-{crash_at}"
        try:
            if kind == "transfer":
                crashing.transfer("a", "b", 30, guild_id=guild, idempotency_key=key)
            else:
                crashing.add("a", 30 if kind == "mint" else -30, guild_id=guild,
                             idempotency_key=key)  # fmt: skip
        except Crash:
            if context.database.backend == "sqlite":
                # The process died: its connection goes, and SQLite rolls back what it held.
                context.database.close()
        if not budget.crashed:
            break  # the whole movement ran before the crash point: every step was covered
        # A new process opens the bank: recovery of everything older than the grace period.
        context.bank.recover(older_than_seconds=0)
        report = context.bank.audit(Scope.of(guild))
        assert report.ok, (crash_at, report.problems)
        # The retry with the same key applies it at most once, in every case.
        try:
            if kind == "transfer":
                context.bank.transfer("a", "b", 30, guild_id=guild, idempotency_key=key)
            else:
                context.bank.add("a", 30 if kind == "mint" else -30, guild_id=guild,
                                 idempotency_key=key)  # fmt: skip
            applied = True
        except InsufficientFunds:
            applied = False  # rolled back by recovery: stays failed
        a = context.bank.balance("a", guild_id=guild).balance
        b = context.bank.balance("b", guild_id=guild).balance
        expected = {
            "transfer": (70, 30) if applied else (100, 0),
            "mint": (130, 0) if applied else (100, 0),
            "burn": (70, 0) if applied else (100, 0),
        }[kind]
        assert (a, b) == expected, crash_at
        assert context.bank.audit(Scope.of(guild)).ok
        crash_at += 1
    assert crash_at > 3


def test_recovery_leaves_young_pending_movements_to_their_own_process(
    context: AppContext,
) -> None:
    if context.database.backend == "sqlite":
        pytest.skip("a SQLite movement is never pending")
    context.bank.add("a", 100)
    budget = Budget(4)  # after the debit
    with pytest.raises(Crash):
        _service(context, _crashing_repo(context, budget)).transfer(
            "a", "b", 30, idempotency_key="young"
        )
    young = context.bank.recover()  # default grace: 30 s
    assert (young.rolled_forward, young.pending_left) == (0, 1)
    assert not context.bank.audit().ok
    old = context.bank.recover(older_than_seconds=0)
    assert (old.rolled_forward, old.pending_left) == (1, 0)
    assert (context.bank.balance("a").balance, context.bank.balance("b").balance) == (70, 30)
    assert context.bank.audit().ok


def test_a_retry_of_a_key_still_in_flight_waits_then_says_retry_later(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    if context.database.backend == "sqlite":
        pytest.skip("a SQLite movement is never pending")
    import core.economy._mongo_bank as mongo_bank

    monkeypatch.setattr(mongo_bank, "_REPLAY_WAIT_SECONDS", 0.2)
    context.bank.add("a", 100)
    with pytest.raises(Crash):
        _service(context, _crashing_repo(context, Budget(2))).transfer(
            "a", "b", 30, idempotency_key="inflight"
        )
    with pytest.raises(ServiceUnavailable, match="still being applied"):
        context.bank.transfer("a", "b", 30, idempotency_key="inflight")
    assert context.bank.balance("a").balance == 100


def test_opening_the_bank_recovers_stale_movements(context: AppContext) -> None:
    if context.database.backend == "sqlite":
        pytest.skip("a SQLite movement is never pending")
    context.bank.add("a", 100)
    with pytest.raises(Crash):
        _service(context, _crashing_repo(context, Budget(4))).transfer(
            "a", "b", 30, idempotency_key="stale"
        )
    # Age the pending transfer past the grace period, as if its process died a minute ago.
    context.database.collection("bank_transfers").update_one(
        {"_id": "stale"}, {"$set": {"updated_at": datetime.now(UTC) - timedelta(minutes=1)}}
    )
    fresh = AppContext(context.settings)
    try:
        assert fresh.bank.balance("b").balance == 30
        assert fresh.bank.audit().ok
    finally:
        fresh.close()


def test_a_recovery_dry_run_plans_finish_and_undo_and_changes_nothing(
    context: AppContext,
) -> None:
    context.bank.add("a", 100)
    if context.database.backend == "sqlite":
        plan = context.bank.recover(older_than_seconds=0, dry_run=True)
        assert plan.dry_run and plan.steps == () and plan.rolled_forward == 0
        return
    for key, crash_at in (("undo-me", 2), ("finish-me", 4)):  # before / after the debit
        with pytest.raises(Crash):
            _service(context, _crashing_repo(context, Budget(crash_at))).transfer(
                "a", "b", 10, idempotency_key=key
            )
    young = context.bank.recover(dry_run=True)  # inside the grace period: left to its process
    assert (young.rolled_forward, young.rolled_back, young.pending_left) == (0, 0, 2)
    plan = context.bank.recover(older_than_seconds=0, dry_run=True)
    assert {s.transfer_id: s.action for s in plan.steps} == {
        "undo-me": "undo", "finish-me": "finish",
    }  # fmt: skip
    assert (plan.rolled_forward, plan.rolled_back, plan.pending_left) == (1, 1, 0)
    assert context.bank.balance("a").balance == 90  # the cut-off debit is still there
    assert context.database.collection("bank_transfers").count_documents({"status": "pending"}) == 2
    done = context.bank.recover(older_than_seconds=0)
    assert (done.rolled_forward, done.rolled_back) == (plan.rolled_forward, plan.rolled_back)
    assert context.bank.audit().ok
