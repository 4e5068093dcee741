"""Benchmark: moving a community's data (backup, restore, a member's erasure, db copy).

Builds a data dir (at --scale 1: 100,000 members with XP, 200,000 ledger rows, 20,000 session
messages, 10,000 RAG chunks, 2,000 stored images of ~250 KB = ~500 MB), then measures, in one
run and as whole commands:

- `abby backup` wall time vs `tar czf` of the same data dir (target <= 2x);
- `abby restore` into an empty data dir vs `tar xzf` of that tarball (target <= 2x);
- `abby user forget` of a member with 10,000 ledger rows and 1,000 session messages (<= 2 s);
- `abby db copy --to sqlite:///...` records/s (target >= 50,000/s).

The RAG chunks reuse one vector computed by the real local model: embedding 10,000 chunks
would take minutes and is not what this measures. Prints one JSON line.

    python scripts/bench_mobility.py [--scale 0.05] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = "forget-me"
PNG = b"\x89PNG\r\n\x1a\n"


class FixedEmbedder:
    """The real model's vector for one sentence, reused for every chunk."""

    def __init__(self) -> None:
        from core.rag.embedding import LocalEmbedder

        inner = LocalEmbedder()
        self.model_name = inner.model_name
        self.dimension = inner.dimension
        self._vector = inner.embed(["how do I rotate encryption keys?"])[0]
        self._inner = inner

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [self._vector for _ in texts]

    def count_tokens(self, text: str) -> int:
        return self._inner.count_tokens(text)


def build(data_dir: Path, scale: float) -> dict[str, int]:
    from core.config import load_settings
    from core.context import AppContext
    from core.scope import Scope

    members = max(100, int(100_000 * scale))
    ledger_rows = max(2_000, int(200_000 * scale))
    messages = max(1_000, int(20_000 * scale))
    chunks = max(100, int(10_000 * scale))
    images = max(20, int(2_000 * scale))
    target_rows = max(200, int(10_000 * scale))
    target_messages = max(100, int(1_000 * scale))
    ctx = AppContext(load_settings(environ={"ABBY_DATA_DIR": str(data_dir)}))
    ctx.keys.generate(write=True)
    now = ctx.clock.now()
    rows = [(f"m{i}", i * 7 % 100_000) for i in range(members)]
    ctx.xp._repo.set_many(Scope.of("g1"), rows, now)
    ctx.users.upsert(TARGET, "target", guild_id="g1")
    ctx.xp.add(TARGET, 500, guild_id="g1")
    ctx.bank.add(TARGET, 10**9, guild_id="g1")
    ctx.bank.add("m0", 10**9, guild_id="g1")
    # Each transfer writes one ledger row per side; the target's rows come from its own half.
    for _ in range(target_rows // 2):
        ctx.bank.transfer(TARGET, "m1", 1, guild_id="g1")
        ctx.bank.transfer("m0", TARGET, 1, guild_id="g1")
    rest = max(0, (ledger_rows - 2 * target_rows) // 2)
    for n in range(rest):
        ctx.bank.transfer("m0", f"m{2 + n % (members - 2)}", 1, guild_id="g1")
    per_session = 100
    for s in range(target_messages // per_session):
        sid = ctx.sessions.create(TARGET, "c1", "g1")
        ctx.sessions.append_many(sid, [("user", f"private {s}-{k}") for k in range(per_session)])
    for s in range(max(0, messages - target_messages) // per_session):
        sid = ctx.sessions.create(f"m{s}", "c1", "g1")
        ctx.sessions.append_many(sid, [("user", f"words {s}-{k}") for k in range(per_session)])
    for i in range(images):
        ctx.storage.save(
            f"m{i % members}", PNG + os.urandom(250_000), {"prompt": "bench"}, guild_id="g1"
        )
    docs = data_dir.parent / "corpus"
    docs.mkdir(exist_ok=True)
    words = " ".join(f"word{k}" for k in range(60))
    per_doc = 20
    for d in range(max(1, chunks // per_doc)):
        body = "\n\n".join(f"## Part {p}\n\n{words} doc{d} part{p}." for p in range(per_doc))
        (docs / f"doc{d}.md").write_text(f"# Document {d}\n\n{body}\n")
    rag = ctx.rag.with_embedder(FixedEmbedder())
    rag.ingest_paths([docs])
    stored_chunks = rag.store.count()
    ctx.close()
    shutil.rmtree(docs)
    return {
        "members": members,
        "ledger_rows_target": ledger_rows,
        "messages": messages,
        "chunks": stored_chunks,
        "images": images,
        "target_ledger_rows": target_rows,
        "target_messages": target_messages,
    }


def timed(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    started = time.perf_counter()
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}, **(env or {})}
    result = subprocess.run(args, env=full, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed ({result.returncode}): {result.stderr}")
    return elapsed


def abby(*args: str) -> list[str]:
    return [sys.executable, "-m", "abby_cli.main", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the issue's data set")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the data set here")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-mobility-"))
    base.mkdir(parents=True, exist_ok=True)
    data = base / "data"
    built_at = time.perf_counter()
    sizes = build(data, args.scale) if not (data / "abby.db").exists() else {}
    build_seconds = time.perf_counter() - built_at
    env = {"ABBY_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    work = base / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    data_bytes = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())

    tar_c = timed(["tar", "czf", str(work / "data.tgz"), "-C", str(base), "data"])
    backup = timed(abby("backup", "-o", str(work / "abby.tar"), "--json"), env, cwd=work)
    (work / "untar").mkdir()
    tar_x = timed(["tar", "xzf", str(work / "data.tgz"), "-C", str(work / "untar")])
    restore_env = {**env, "ABBY_DATA_DIR": str(work / "restored")}
    restore = timed(abby("restore", str(work / "abby.tar"), "--json"), restore_env, cwd=work)

    copy_rate = None
    if (ROOT / "core" / "db" / "transfer.py").exists():
        copy_env = {**restore_env}
        records = _records(work / "restored")
        copy = timed(
            abby("db", "copy", "--to", f"sqlite:///{work / 'copy.db'}", "--json"),
            copy_env,
            cwd=work,
        )
        copy_rate = round(records / copy)

    forget = timed(
        abby("user", "forget", TARGET, "--guild", "g1", "--yes", "--json"), restore_env, cwd=work
    )
    result = {
        "bench": "mobility",
        "scale": args.scale,
        "data_set": sizes,
        "data_dir_mb": round(data_bytes / 2**20, 1),
        "build_s": round(build_seconds, 1),
        "backup_s": round(backup, 2),
        "tar_czf_s": round(tar_c, 2),
        "backup_vs_tar_czf": round(backup / tar_c, 2),
        "archive_mb": round((work / "abby.tar").stat().st_size / 2**20, 1),
        "tgz_mb": round((work / "data.tgz").stat().st_size / 2**20, 1),
        "restore_s": round(restore, 2),
        "tar_xzf_s": round(tar_x, 2),
        "restore_vs_tar_xzf": round(restore / tar_x, 2),
        "forget_s": round(forget, 2),
        "db_copy_sqlite_records_per_s": copy_rate,
    }
    print(json.dumps(result))
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)
    else:
        shutil.rmtree(work, ignore_errors=True)


def _records(data_dir: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(data_dir / "abby.db")
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name != 'schema_migrations'"
            )
        ]
        return sum(conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
