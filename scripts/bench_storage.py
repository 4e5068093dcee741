"""Benchmark storage and quotas on the embedded (SQLite) backend; prints one JSON line.

Figures (issue #6):
- `get_quota_status` p50 with 100,000 file records (target <= 5 ms), beside what summing the
  records on every call would cost (why the running totals exist);
- `abby storage cleanup --yes` over 100,000 records and files with 30% expired, timed as a
  whole subprocess (target <= 15 s).

Run: `/work/venv/bin/python scripts/bench_storage.py [--records N] [--calls N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from core.context import AppContext  # noqa: E402
from core.db.records import time_text  # noqa: E402

PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\0" * 120


def seed(context: AppContext, records: int, users: int, expired_share: float) -> float:
    """Write `records` files and their records through the bulk path; return seconds."""
    started = time.perf_counter()
    root = context.storage.real_root()
    now = datetime.now(UTC)
    old = now - timedelta(days=context.settings.storage.temp_retention_days + 1)
    expired_every = round(1 / expired_share) if expired_share else 0
    rows = []
    made_dirs: set[Path] = set()
    for i in range(records):
        user = f"u{i % users}"
        file_id = f"{i:032x}"
        relative = f"{user}/2026-01/{file_id}.png"
        target = root / relative
        if target.parent not in made_dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(target.parent)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.write(fd, PNG_HEAD)
        os.close(fd)
        expired = expired_every and i % 10 < round(expired_share * 10)
        rows.append(
            {
                "record": "storage_files", "v": 1, "file_id": file_id, "user_id": user,
                "scope": "", "path": relative, "bytes": len(PNG_HEAD), "sha256": "0" * 64,
                "content_type": "image/png", "kept": False,
                "created_at": time_text(old if expired else now), "metadata": {"model": "core"},
            }
        )  # fmt: skip
    # The records' own batched import: one transaction per 5,000 rows, triggers included.
    context.storage._repo.import_(rows)
    return time.perf_counter() - started


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--expired", type=float, default=0.3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="abby-bench-storage-") as tmp:
        env = {"ABBY_DATA_DIR": str(Path(tmp) / "data")}
        settings = load_settings(environ=env)
        context = AppContext(settings)
        context.init_schema()
        seed_seconds = seed(context, args.records, args.users, args.expired)
        quota = context.quota
        users = [f"u{random.randrange(args.users)}" for _ in range(args.calls)]
        for user in users[:50]:  # warm the connection and page cache
            quota.get_quota_status(user, None, ["111"], 3)
        timings = []
        for user in users:
            start = time.perf_counter()
            quota.get_quota_status(user, None, ["111"], 3)
            timings.append((time.perf_counter() - start) * 1000)
        # What the same figures cost when summed from the records on every call.
        conn = context.database.connection()
        summed = []
        for user in users[:200]:
            start = time.perf_counter()
            conn.execute("SELECT SUM(bytes) FROM storage_files").fetchone()
            conn.execute("SELECT SUM(bytes) FROM storage_files WHERE user_id = ?", (user,))
            summed.append((time.perf_counter() - start) * 1000)
        context.close()

        child_env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
        child_env.update(env, PYTHONPATH=str(ROOT))
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "abby_cli.main", "storage", "cleanup", "--yes", "--json"],
            env=child_env,
            capture_output=True,
            text=True,
            check=False,
        )
        cleanup_seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"cleanup failed: {done.stderr.strip()}")
        report = json.loads(done.stdout)
        check = AppContext(load_settings(environ=env))
        remaining = check.storage.usage().total_files
        check.close()

    print(
        json.dumps(
            {
                "benchmark": "storage",
                "records": args.records,
                "users": args.users,
                "quota_status_p50_ms": round(statistics.median(timings), 3),
                "quota_status_p95_ms": round(percentile(timings, 0.95), 3),
                "sum_over_records_p50_ms": round(statistics.median(summed), 3),
                "seed_seconds": round(seed_seconds, 2),
                "cleanup_seconds": round(cleanup_seconds, 2),
                "cleanup_files_deleted": report["files_deleted"],
                "cleanup_bytes_freed": report["bytes_freed"],
                "records_left": remaining,
            }
        )
    )


if __name__ == "__main__":
    main()
