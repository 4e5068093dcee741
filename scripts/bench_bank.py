"""Benchmark the bank's new reads and writes on the embedded backend; prints ONE JSON line.

Figures (issue #15): what the balance-leaderboard index costs each transfer (transfers/s with
and without it, same run: the ratio survives a noisy machine); `bank.leaderboard` p50 among
100,000 accounts on the index against the same query made to sort (NOT INDEXED); a ledger
page (`bank.history` with an offset) on a 10,000-entry account; daily claims/s and
second-claim refusals/s.

    .venv/bin/python scripts/bench_bank.py [--transfers 10000] [--accounts 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import load_settings
from core.context import AppContext
from core.errors import AlreadyClaimed
from core.scope import Scope


def _context(root: Path, name: str) -> AppContext:
    return AppContext(load_settings(environ={"ABBY_DATA_DIR": str(root / name)}))


def _p50_ms(fn: Callable[[], object], repeat: int = 200) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def _transfers_per_s(ctx: AppContext, n: int) -> float:
    bank = ctx.bank
    accounts = [f"a{i}" for i in range(1_000)]
    if bank.balance("a0", guild_id="bench").balance == 0:
        for account in accounts:
            bank.add(account, 10**9, reason="bench", guild_id="bench")
    rng = random.Random(1)
    pairs = [rng.sample(accounts, 2) for _ in range(n)]
    start = time.perf_counter()
    for payer, payee in pairs:
        bank.transfer(payer, payee, 7, guild_id="bench")
    return round(n / (time.perf_counter() - start), 1)


def bench_index_cost(root: Path, n: int) -> dict[str, float]:
    with_index = _context(root, "with")
    without = _context(root, "without")
    without.bank  # noqa: B018 - migrate, then take the index away
    without.database.connection().execute("DROP INDEX bank_accounts_top")
    rates = {"with": [], "without": []}
    for _ in range(4):  # interleaved, so a burst of load hits both; best of each
        rates["with"].append(_transfers_per_s(with_index, n // 4))
        rates["without"].append(_transfers_per_s(without, n // 4))
    with_index.close()
    without.close()
    best_with, best_without = max(rates["with"]), max(rates["without"])
    return {
        "transfers_per_s_with_top_index": best_with,
        "transfers_per_s_without_top_index": best_without,
        "top_index_transfer_cost_ratio": round(best_without / best_with, 3),
    }


def _accounts(ctx: AppContext, accounts: int) -> None:
    rng = random.Random(2)
    with ctx.database.transaction() as tx:  # bulk rows: a leaderboard's shape, not its books
        tx.executemany(
            "INSERT INTO bank_accounts (scope, user_id, balance, updated_at) VALUES (?, ?, ?, ?)",
            [("lb", f"m{i}", rng.randint(1, 10**7), "2026-01-01") for i in range(accounts)],
        )


def bench_reads(root: Path, accounts: int) -> dict[str, float]:
    ctx = _context(root, "reads")
    bank = ctx.bank
    _accounts(ctx, accounts)
    for n in range(10_000):
        bank.add("busy", n + 1, reason=f"r{n}", guild_id="lb")
    # The same accounts without the index: what the leaderboard would cost sorting them.
    plain = _context(root, "reads-no-index")
    plain.bank  # noqa: B018
    plain.database.connection().execute("DROP INDEX bank_accounts_top")
    _accounts(plain, accounts)
    sorted_p50 = _p50_ms(lambda: plain.bank.leaderboard("lb", limit=11), repeat=10)
    plain.close()
    figures = {
        "leaderboard_page1_p50_ms": _p50_ms(lambda: bank.leaderboard("lb", limit=11)),
        "leaderboard_page100_p50_ms": _p50_ms(lambda: bank.leaderboard("lb", limit=11, offset=990)),
        "leaderboard_sorted_without_index_p50_ms": sorted_p50,
        "history_page1_p50_ms": _p50_ms(lambda: bank.history("busy", guild_id="lb", limit=11)),
        "history_offset_9000_p50_ms": _p50_ms(
            lambda: bank.history("busy", guild_id="lb", limit=11, offset=9_000)
        ),
        "accounts": accounts,
        "ledger_entries_on_account": 10_000,
    }
    ctx.close()
    return figures


def bench_daily(root: Path, members: int = 5_000) -> dict[str, float]:
    ctx = _context(root, "daily")
    bank = ctx.bank
    users = [f"d{i}" for i in range(members)]
    start = time.perf_counter()
    for user in users:
        bank.daily(user, guild_id="g")
    paid = time.perf_counter() - start
    start = time.perf_counter()
    refused = 0
    for user in users:
        try:
            bank.daily(user, guild_id="g")
        except AlreadyClaimed:
            refused += 1
    again = time.perf_counter() - start
    assert refused == members and bank.audit(Scope.of("g")).ok
    ctx.close()
    return {
        "daily_claims_per_s": round(members / paid, 1),
        "daily_second_claims_refused_per_s": round(members / again, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transfers", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="abby-bench-bank-") as tmp:
        root = Path(tmp)
        result = {
            **bench_index_cost(root, args.transfers),
            **bench_reads(root, args.accounts),
            **bench_daily(root),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
