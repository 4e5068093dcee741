"""Benchmark key rotation and session appends on the embedded (SQLite) backend; one JSON line.

    /work/venv/bin/python scripts/bench_security.py [--sizes 10000,100000] [--appends 5000]

For each size, a fresh data dir is seeded with that many messages (100 per session, real
encryption, through the repository's batch append), a second key is made primary, and the
rotation runs in a child process of its own, so its peak RSS (from wait4) is the rotation's
alone. Targets (issue #5): >= 5,000 messages/s rotated, RSS flat from 10,000 to 100,000
messages, >= 2,000 appends/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PER_SESSION = 100

SEED = """
import sys
from core.config import load_settings
from core.context import AppContext
ctx = AppContext(load_settings())
ctx.keys.generate(write=True)
n, per = int(sys.argv[1]), int(sys.argv[2])
for s in range(n // per):
    sid = ctx.sessions.create(f"u{s % 50}", "c1", "g1")
    rows = [("user", f"message {s}-{i} " + "x" * 80) for i in range(per)]
    ctx.sessions.append_many(sid, rows)
ctx.keys.generate(write=True)
"""

ROTATE = """
import json, time
from core.config import load_settings
from core.context import AppContext
ctx = AppContext(load_settings())
ring = ctx.keys.ring()
start = time.perf_counter()
report = ctx.keys.rotate(batch_size=1000)
elapsed = time.perf_counter() - start
print(json.dumps({"rotated": report.rotated, "seconds": elapsed}))
"""

IDLE = """
from core.config import load_settings
from core.context import AppContext
ctx = AppContext(load_settings())
ctx.keys.counts()
"""


def child(code: str, env: dict[str, str], *args: str) -> tuple[str, int]:
    """Run code in a child; return (stdout, its own peak RSS in KiB)."""
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix every child so far).
    out = process.stdout.read()  # type: ignore[union-attr]
    err = process.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"child failed: {err.strip().splitlines()[-1:]}")
    return out, usage.ru_maxrss


def bench_rotation(size: int, workdir: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    env["ABBY_DATA_DIR"] = str(workdir / f"rot{size}")
    start = time.perf_counter()
    child(SEED, env, str(size), str(PER_SESSION))
    seeded = time.perf_counter() - start
    _, idle_rss = child(IDLE, env)
    out, rss = child(ROTATE, env)
    result = json.loads(out)
    assert result["rotated"] == size, result
    return {
        "messages": size,
        "seed_seconds": round(seeded, 2),
        "rotate_seconds": round(result["seconds"], 3),
        "rotate_per_s": round(size / result["seconds"]),
        "rss_kib": rss,
        "rss_kib_idle_process": idle_rss,
    }


def bench_appends(count: int, workdir: Path) -> dict[str, float]:
    from core.config import load_settings
    from core.context import AppContext

    settings = load_settings(environ={"ABBY_DATA_DIR": str(workdir / "appends")})
    ctx = AppContext(settings)
    ctx.keys.generate(write=True)
    sessions = [ctx.sessions.create(f"u{i}", "c1", "g1") for i in range(10)]
    ctx.sessions.append(sessions[0], "user", "warm-up")
    start = time.perf_counter()
    for i in range(count):
        ctx.sessions.append(sessions[i % 10], "user", f"message number {i} " + "y" * 80)
    elapsed = time.perf_counter() - start
    ctx.close()
    return {
        "appends": count,
        "append_seconds": round(elapsed, 3),
        "appends_per_s": round(count / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--appends", type=int, default=5000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="abby-bench-security-") as tmp:
        workdir = Path(tmp)
        rotations = [bench_rotation(size, workdir) for size in sizes]
        appends = bench_appends(args.appends, workdir)
    small, large = rotations[0], rotations[-1]
    print(
        json.dumps(
            {
                "bench": "security",
                "backend": "sqlite",
                "rotation": rotations,
                "rotate_per_s_min": min(r["rotate_per_s"] for r in rotations),
                "rss_growth_kib": large["rss_kib"] - small["rss_kib"],
                "rss_ratio_large_to_small": round(large["rss_kib"] / small["rss_kib"], 3),
                **appends,
                "targets": {"rotate_per_s": 5000, "appends_per_s": 2000, "rss": "flat"},
            }
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
