"""Benchmark `abby db copy`: records per second into SQLite and into the MongoDB stand-in.

Figures (issue #13): `abby db copy --to sqlite:///...` (target >= 50,000 records/s), and into
the mongoeco wire stand-in (report only: it writes a few hundred documents a second and slows
with collection size, so it gets a small source). Whole `abby` processes, wall time from start
to exit, beside the rate the command reports for its own copy loop. Prints one JSON line.

Run: `.venv/bin/python scripts/bench_db_copy.py [--members N] [--mongo-members N]`.
`copy_rate(data_dir, uri)` is importable (scripts/bench_mobility.py can call it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from core.context import AppContext  # noqa: E402
from tests.support.mobility import bulk, populate  # noqa: E402


def make_source(data_dir: Path, members: int) -> None:
    """A data dir with every domain, plus `members` profiles and XP records."""
    ctx = AppContext(load_settings(environ={"ABBY_DATA_DIR": str(data_dir)}))
    populate(ctx)
    bulk(ctx, members)
    ctx.close()


def copy_rate(data_dir: Path, uri: str) -> dict[str, float | int]:
    """Run `abby db copy --to URI` on the data dir; records, wall seconds and rates."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    env.update(ABBY_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "abby_cli.main", "db", "copy", "--to", uri, "--json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if done.returncode != 0:
        raise SystemExit(f"db copy failed ({done.returncode}): {done.stdout}{done.stderr}")
    report = json.loads(done.stdout)
    return {
        "records": report["records"],
        "wall_s": round(wall, 3),
        "records_per_s_wall": round(report["records"] / wall),
        "records_per_s_copy_loop": report["records_per_second"],
        # On a shared machine wall time measures the neighbours too; CPU time does not.
        "cpu_s": round(cpu, 3),
        "records_per_s_cpu": round(report["records"] / cpu),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _mongo(work: Path, members: int) -> dict[str, float | int] | str:
    if importlib.util.find_spec("mongoeco") is None:
        return "skipped: mongoeco (CPython 3.13+) is not installed"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mongo_server", "--db", str(work / "wire.sqlite")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        uri = server.stdout.readline().split(" ", 1)[1].strip()
        base, _, query = uri.partition("?")
        make_source(work / "mongo-source", members)
        return copy_rate(work / "mongo-source", f"{base.rstrip('/')}/bench?{query}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="SQLite source size")
    parser.add_argument("--mongo-members", type=int, default=300, help="stand-in source size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="abby-bench-copy-") as tmp:
        work = Path(tmp)
        make_source(work / "source", args.members)
        sqlite = copy_rate(work / "source", f"sqlite:///{work / 'target' / 'abby.db'}")
        mongo = _mongo(work, args.mongo_members)
    print(json.dumps({"bench": "db_copy", "into_sqlite": sqlite, "into_mongo_standin": mongo,
                      "sqlite_target_records_per_s": 50_000}))  # fmt: skip


if __name__ == "__main__":
    main()
