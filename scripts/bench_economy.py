"""Benchmark the economy on the embedded backend; prints ONE JSON line.

Figures (issue #3): message-XP grants/s with the cooldown inside the one statement, against
a read-then-write baseline in the same run (the ratio is the figure that survives a noisy
machine); transfers/s; leaderboard top 10 and a single rank lookup among 100,000 users.
With --mongo it adds the same operations against the mongoeco stand-in (correctness
stand-in only: its speed says nothing about a real MongoDB).

    /work/venv/bin/python scripts/bench_economy.py [--grants 50000] [--transfers 20000]
        [--users 100000] [--mongo]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import load_settings
from core.context import AppContext
from core.scope import Scope


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


def bench_grants(ctx: AppContext, n: int) -> dict[str, float]:
    xp = ctx.xp
    xp.settings_for("bench")
    users = [f"u{i}" for i in range(n)]
    now = time.time()
    start = time.perf_counter()
    for user in users:  # distinct users: every grant passes the cooldown and writes
        xp.grant_message(user, guild_id="bench", now=now)
    service = time.perf_counter() - start
    # The guarded statement alone (what one grant costs the database).
    repo = xp._repo
    start = time.perf_counter()
    for user in users:
        repo.grant_if_cooled(user, Scope.of("bench-raw"), 20, now, 60.0)
    guarded = time.perf_counter() - start
    # Baseline: the replaced system's pattern, read then write (two statements, and racy).
    conn = ctx.database.connection()
    start = time.perf_counter()
    for user in users:
        row = conn.execute(
            "SELECT xp, last_grant_at FROM xp WHERE scope = ? AND user_id = ?", ("rtw", user)
        ).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO xp (scope, user_id, xp, prev_xp, last_grant_at, updated_at)"
                " VALUES (?, ?, ?, 0, ?, ?)",
                ("rtw", user, 20, now, now),
            )
        elif row[1] is None or row[1] <= now - 60:
            conn.execute(
                "UPDATE xp SET xp = ?, last_grant_at = ? WHERE scope = ? AND user_id = ?",
                (row[0] + 20, now, "rtw", user),
            )
    baseline = time.perf_counter() - start
    # A second pass inside the cooldown: every grant is refused by the same statement.
    start = time.perf_counter()
    for user in users[: n // 5]:
        xp.grant_message(user, guild_id="bench", now=now + 1)
    refused = time.perf_counter() - start
    return {
        "grants_per_s": _rate(n, service),
        "guarded_statement_per_s": _rate(n, guarded),
        "read_then_write_per_s": _rate(n, baseline),
        "guarded_vs_read_then_write": round(baseline / guarded, 2),
        "service_vs_read_then_write": round(baseline / service, 2),
        "refused_on_cooldown_per_s": _rate(n // 5, refused),
    }


def bench_transfers(ctx: AppContext, n: int) -> dict[str, float]:
    bank = ctx.bank
    accounts = [f"a{i}" for i in range(1_000)]
    for account in accounts:
        bank.add(account, 1_000_000, reason="bench", guild_id="bench")
    rng = random.Random(1)
    pairs = [rng.sample(accounts, 2) for _ in range(n)]
    start = time.perf_counter()
    for payer, payee in pairs:
        bank.transfer(payer, payee, 7, guild_id="bench")
    plain = time.perf_counter() - start
    start = time.perf_counter()
    for i, (payer, payee) in enumerate(pairs):
        bank.transfer(payer, payee, 7, guild_id="bench", idempotency_key=f"k{i}")
    keyed = time.perf_counter() - start
    audit_start = time.perf_counter()
    ok = bank.audit().ok
    return {
        "transfers_per_s": _rate(n, plain),
        "keyed_transfers_per_s": _rate(n, keyed),
        "audit_ok": ok,
        "audit_ms": round((time.perf_counter() - audit_start) * 1000, 1),
    }


def bench_leaderboard(ctx: AppContext, users: int) -> dict[str, float]:
    xp = ctx.xp
    rng = random.Random(2)
    rows = [(f"m{i}", rng.randint(0, 5_000_000)) for i in range(users)]
    xp._repo.set_many(Scope.of("lb"), rows, ctx.clock.now())

    def timed(fn, repeat: int) -> list[float]:  # noqa: ANN001
        out = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
        return out

    top = timed(lambda: xp.leaderboard(guild_id="lb", limit=10), 50)
    sample = rng.sample(rows, 50)
    ranks = [timed(lambda u=u: xp.get(u, guild_id="lb"), 1)[0] for u, _ in sample]
    lowest = min(rows, key=lambda r: (r[1], -int(r[0][1:])))[0]
    worst = timed(lambda: xp.get(lowest, guild_id="lb"), 10)
    assert xp.get(lowest, guild_id="lb").rank == users
    return {
        "leaderboard_users": users,
        "top10_ms_median": round(statistics.median(top), 3),
        "top10_ms_max": round(max(top), 3),
        "rank_ms_median": round(statistics.median(ranks), 3),
        "rank_ms_max": round(max(ranks), 3),
        "rank_last_place_ms_median": round(statistics.median(worst), 3),
    }


def bench_mongo(grants: int = 300, transfers: int = 100) -> dict[str, float]:
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.support.mongo_server", "--db", f"{tmp}/wire.sqlite"],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            uri = server.stdout.readline().split(" ", 1)[1].strip()
            env = {"ABBY_DATA_DIR": tmp, "ABBY_DATABASE__URI": uri}
            ctx = AppContext(load_settings(environ=env))
            now = time.time()
            start = time.perf_counter()
            for i in range(grants):
                ctx.xp.grant_message(f"u{i}", guild_id="bench", now=now)
            grant_s = time.perf_counter() - start
            for i in range(20):
                ctx.bank.add(f"a{i}", 10_000, reason="bench")
            rng = random.Random(3)
            start = time.perf_counter()
            for _ in range(transfers):
                payer, payee = rng.sample(range(20), 2)
                ctx.bank.transfer(f"a{payer}", f"a{payee}", 5)
            transfer_s = time.perf_counter() - start
            ctx.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    return {
        "mongoeco_grants_per_s": _rate(grants, grant_s),
        "mongoeco_transfers_per_s": _rate(transfers, transfer_s),
        "mongoeco_note": "against the mongoeco test stand-in; not a MongoDB speed figure",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=50_000)
    parser.add_argument("--transfers", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--mongo", action="store_true", help="also run against mongoeco")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        ctx = AppContext(load_settings(environ={"ABBY_DATA_DIR": data_dir}))
        result: dict[str, object] = {"backend": "sqlite"}
        result.update(bench_grants(ctx, args.grants))
        result.update(bench_transfers(ctx, args.transfers))
        result.update(bench_leaderboard(ctx, args.users))
        ctx.close()
    if args.mongo:
        result.update(bench_mongo())
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
