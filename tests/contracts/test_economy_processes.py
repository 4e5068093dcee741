"""Concurrency and crashes with separate processes, on both backends.

Workers are `tests/support/economy_worker.py` processes on the same store (the backend's
ABBY_* variables). MongoDB runs against the mongoeco stand-in, which serves one request at a
time and slows with collection size, so the transfer storm is smaller there (same code path).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest

from core.context import AppContext
from tests.conftest import ROOT, Backend

ACCOUNTS = 20
OPENING = 200


def _spawn(backend: Backend, mode: str, args: dict[str, Any]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    env.update(backend.env, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.economy_worker", mode, "--json-args",
         json.dumps(args)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _results(workers: list[subprocess.Popen[str]], timeout: float = 240) -> list[dict[str, Any]]:
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=timeout)
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _open_accounts(context: AppContext, guild: str | None) -> None:
    for i in range(ACCOUNTS):
        context.bank.add(f"acct{i}", OPENING, reason="opening", guild_id=guild)


def _ledger_counts(context: AppContext, guild: str | None) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    lowest = 0
    for i in range(ACCOUNTS):
        for entry in context.bank.history(f"acct{i}", guild_id=guild, limit=10_000):
            counts[entry.transfer_id] += 1
            if entry.balance_after is not None:
                lowest = min(lowest, entry.balance_after)
    return counts, lowest


@pytest.mark.slow
def test_four_processes_of_keyed_transfers_with_retries_keep_the_books(
    context: AppContext, backend: Backend
) -> None:
    per_worker = 500 if backend.name == "sqlite" else 60
    _open_accounts(context, "g")
    start_at = time.time() + 2.5
    workers = [
        _spawn(backend, "transfers", {"seed": w, "count": per_worker, "accounts": ACCOUNTS,
                                      "prefix": f"w{w}", "guild": "g", "start_at": start_at})
        for w in range(4)
    ]  # fmt: skip
    results = _results(workers)
    assert all(r["mismatches"] == 0 for r in results), "a retry returned another outcome"
    outcomes = {k: v for r in results for k, v in r["outcomes"].items()}
    assert len(outcomes) == 4 * per_worker
    assert 0 < Counter(outcomes.values())["done"]

    balances = [context.bank.balance(f"acct{i}", guild_id="g").balance for i in range(ACCOUNTS)]
    assert sum(balances) == ACCOUNTS * OPENING
    assert min(balances) >= 0
    counts, lowest = _ledger_counts(context, "g")
    assert lowest >= 0
    for key, outcome in outcomes.items():
        # Applied exactly once: both ledger sides for a done transfer, none for a failed one.
        assert counts[key] == (2 if outcome == "done" else 0), key
        assert context.bank.get_transfer(key).status == outcome
    report = context.bank.audit()
    assert report.ok, report.problems


@pytest.mark.slow
def test_two_processes_granting_message_xp_inside_one_cooldown_pay_once(
    context: AppContext, backend: Backend
) -> None:
    users = [f"u{i}" for i in range(10)]
    start_at = time.time() + 2.5
    args = {"users": users, "guild": "g", "now": 1_000_000.0, "start_at": start_at}
    results = _results([_spawn(backend, "grant", args) for _ in range(2)])
    for user in users:
        landed = sum(r["granted"][user] for r in results)
        assert landed == 1, (user, results)
        assert 15 <= context.xp.get(user, guild_id="g").xp <= 25


@pytest.mark.slow
def test_fifty_concurrent_transfers_from_an_account_that_affords_one(
    context: AppContext, backend: Backend
) -> None:
    context.bank.add("payer", 100, reason="exactly one", guild_id="g")
    start_at = time.time() + 3
    args = {"payer": "payer", "payee": "payee", "amount": 100, "guild": "g", "threads": 5,
            "start_at": start_at}  # fmt: skip
    results = _results([_spawn(backend, "drain", args) for _ in range(10)])
    assert sum(r["done"] for r in results) == 1
    assert sum(r["insufficient"] for r in results) == 49
    assert context.bank.balance("payer", guild_id="g").balance == 0
    assert context.bank.balance("payee", guild_id="g").balance == 100
    assert context.bank.audit().ok


@pytest.mark.slow
def test_a_transfer_loop_killed_with_sigkill_loses_and_creates_nothing(
    context: AppContext, backend: Backend
) -> None:
    _open_accounts(context, None)
    rng = random.Random(7)
    for round_ in range(3):
        worker = _spawn(backend, "loop", {"seed": round_, "accounts": ACCOUNTS})
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "running", worker.stderr.read()
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        worker.stdout.close()
        worker.stderr.close()
        # What the next process to open the bank (or `abby bank recover`) does.
        context.bank.recover(older_than_seconds=0)
        report = context.bank.audit()
        assert report.ok, (round_, report.problems)
        total = sum(context.bank.balance(f"acct{i}").balance for i in range(ACCOUNTS))
        assert total == ACCOUNTS * OPENING
