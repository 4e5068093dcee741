"""Benchmark the kept-image operations on the embedded (SQLite) backend; prints one JSON line.

Figures (issue #15, item 6): with N file records (default 100,000 over 1,000 members, one in
ten kept), the p50/p95 of one `/gallery` page (`kept_files`, 11 rows: a page and the "is
there a next one" row) for a member with 100 kept images in the guild, of Keep
(`StorageManager.keep`, one guarded UPDATE) and of the owner check a press makes
(`StorageManager.get`). The page query uses the (user_id, kept, created_at) index, so it
does not grow with the store; the same query without it is timed for contrast.

Run: `python scripts/bench_gallery.py [--records N] [--calls N]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from core.context import AppContext  # noqa: E402
from core.db.records import time_text  # noqa: E402
from core.scope import Scope  # noqa: E402

GUILD = "g1"


def seed(context: AppContext, records: int, users: int) -> None:
    """Records only (no files): the queries timed here never touch the disk."""
    now = datetime.now(UTC)
    rows = []
    for i in range(records):
        user = f"u{i % users}"
        rows.append(
            {
                "record": "storage_files", "v": 1, "file_id": f"{i:032x}", "user_id": user,
                "scope": Scope.of(GUILD).key, "path": f"{user}/2026-01/{i:032x}.png",
                "bytes": 128, "sha256": "0" * 64, "content_type": "image/png",
                "kept": i % 10 == 0, "created_at": time_text(now - timedelta(seconds=records - i)),
                "metadata": {"prompt": f"a fox number {i}"},
            }
        )  # fmt: skip
    # The records' own batched import: one transaction per 5,000 rows.
    context.storage._repo.import_(rows)


def timed(call: Callable[[], object], calls: int) -> dict[str, float]:
    samples = []
    for _ in range(calls):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        context = AppContext(load_settings(environ={"ABBY_DATA_DIR": str(Path(tmp) / "d")}))
        try:
            context.init_schema()
            began = time.perf_counter()
            seed(context, args.records, args.users)
            seeded = time.perf_counter() - began
            storage = context.storage
            kept_each = len(storage.kept_files("u0", Scope.of(GUILD), limit=10_000))
            page = timed(
                lambda: storage.kept_files("u0", Scope.of(GUILD), offset=0, limit=11), args.calls
            )
            deep = timed(
                lambda: storage.kept_files("u0", Scope.of(GUILD), offset=88, limit=11), args.calls
            )
            keep = timed(lambda: storage.keep(f"{args.users:032x}", "u0"), args.calls)
            owner = timed(lambda: storage.get(f"{args.users:032x}"), args.calls)
            conn = context.database.connection()
            plan = " ".join(
                row[3]
                for row in conn.execute(
                    "EXPLAIN QUERY PLAN SELECT * FROM storage_files WHERE user_id = ? AND kept = 1"
                    " AND scope = ? ORDER BY created_at DESC LIMIT 11",
                    ("u0", GUILD),
                )
            )
            unindexed = timed(
                lambda: conn.execute(
                    "SELECT * FROM storage_files NOT INDEXED WHERE user_id = ? AND kept = 1"
                    " AND scope = ? ORDER BY created_at DESC LIMIT 11",
                    ("u0", GUILD),
                ).fetchall(),
                min(args.calls, 30),
            )
        finally:
            context.close()
    print(
        json.dumps(
            {
                "bench": "gallery",
                "records": args.records,
                "members": args.users,
                "kept_of_member": kept_each,
                "seed_s": round(seeded, 2),
                "gallery_page": page,
                "gallery_page_9": deep,
                "keep": keep,
                "owner_check": owner,
                "page_without_index": unindexed,
                "plan": plan,
            }
        )
    )


if __name__ == "__main__":
    main()
