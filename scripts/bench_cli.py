"""Foundation figures for issue #2, printed as one JSON line.

- `abby --help` wall time (median of N whole-process runs) and its ratio to
  `python -c "import typer, rich"` with the same interpreter, measured interleaved in one run.
- 10,000 sequential guarded upserts through the XP repository on the embedded backend
  (increment a counter only when its cooldown has passed: one SQL statement each), next to the
  same statement run on a bare sqlite3 connection.

Run: python scripts/bench_cli.py [--runs 21]
A public whole-process check of the first figure: /usr/bin/time -v abby --help
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def bench_help(runs: int) -> dict[str, float]:
    abby = shutil.which("abby") or str(Path(sys.executable).with_name("abby"))
    baseline_cmd = [sys.executable, "-c", "import typer, rich"]
    help_cmd = [abby, "--help"]
    config_cmd = [abby, "config", "show"]
    for cmd in (baseline_cmd, help_cmd):  # warm the page cache
        wall(cmd)
    base, helps, configs = [], [], []
    for _ in range(runs):  # interleaved, so machine noise hits all three alike
        base.append(wall(baseline_cmd))
        helps.append(wall(help_cmd))
        configs.append(wall(config_cmd))
    b, h, c = (statistics.median(x) * 1000 for x in (base, helps, configs))
    return {
        "import_typer_rich_ms": round(b, 1),
        "help_ms": round(h, 1),
        "help_ratio": round(h / b, 2),
        "config_show_ms": round(c, 1),
    }


def bench_upserts(n: int) -> dict[str, float]:
    from core.db.sqlite import SqliteDatabase
    from core.economy._sqlite_xp import SqliteXpRepository
    from core.scope import Scope

    with tempfile.TemporaryDirectory() as tmp:
        db = SqliteDatabase(Path(tmp) / "abby.db")
        repo = SqliteXpRepository(db)
        now = time.time()
        started = time.perf_counter()
        for i in range(n):
            # The same user each time, the clock 61 s later: every grant passes its cooldown.
            repo.grant_if_cooled("u1", Scope.of("g1"), 20, now + 61 * i, 60)
        repo_seconds = time.perf_counter() - started
        db.close()

        conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE c (k TEXT PRIMARY KEY, n INTEGER, last REAL)")
        started = time.perf_counter()
        for i in range(n):
            conn.execute(
                "INSERT INTO c VALUES (?, 1, ?) ON CONFLICT (k) DO UPDATE SET n = n + 1, "
                "last = excluded.last WHERE c.last <= excluded.last - 60",
                ("u1", now + 61 * i),
            )
        raw_seconds = time.perf_counter() - started
        conn.close()
    return {
        "guarded_upserts": n,
        "repository_seconds": round(repo_seconds, 3),
        "raw_sqlite_seconds": round(raw_seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--upserts", type=int, default=10_000)
    args = parser.parse_args()
    result = {"bench": "cli", **bench_help(args.runs), **bench_upserts(args.upserts)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
