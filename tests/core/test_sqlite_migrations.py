"""SQLite schema migrations: applied once, in order, atomically, even with several processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.db.sqlite import Migration, SqliteDatabase

ROOT = Path(__file__).resolve().parents[2]

STEPS = (
    Migration("demo_0001_create", "CREATE TABLE demo (id INTEGER PRIMARY KEY, name TEXT);"),
    Migration("demo_0002_add_column", "ALTER TABLE demo ADD COLUMN score INTEGER DEFAULT 0;"),
)


def test_migrations_apply_once_and_in_order(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "a.db")
    assert db.migrate(STEPS[:1]) == ["demo_0001_create"]
    db.connection().execute("INSERT INTO demo (name) VALUES ('old row')")
    # An older database meets a newer program: only the new step runs, the data survives.
    fresh = SqliteDatabase(tmp_path / "a.db")
    assert fresh.migrate(STEPS) == ["demo_0002_add_column"]
    assert fresh.migrate(STEPS) == []
    row = fresh.connection().execute("SELECT name, score FROM demo").fetchone()
    assert tuple(row) == ("old row", 0)
    db.close()
    fresh.close()


def test_a_failing_migration_leaves_no_trace(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "b.db")
    broken = Migration(
        "demo_0001_broken", "CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);"
    )
    with pytest.raises(Exception, match="nowhere"):
        db.migrate([broken])
    tables = {r[0] for r in db.connection().execute("SELECT name FROM sqlite_master")}
    assert "half" not in tables
    assert "demo_0001_broken" not in db.applied_migrations()
    db.close()


def test_processes_migrating_at_once_apply_each_step_once(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    script = (
        "import sys; from core.db.sqlite import Migration, SqliteDatabase\n"
        "steps = [Migration(f'demo_{i:04d}', f'CREATE TABLE t{i} (x INTEGER);')\n"
        "         for i in range(30)]\n"
        "SqliteDatabase(sys.argv[1]).migrate(steps)\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=ROOT) for _ in range(4)
    ]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0, 0]
    db = SqliteDatabase(path)
    assert len(db.applied_migrations()) == 30
    db.close()


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL takes an exclusive lock that SQLite does not wait for."""
    script = (
        "import sys, time\n"
        "from core.db.sqlite import SqliteDatabase\n"
        "while time.time() < float(sys.argv[2]):\n"
        "    pass\n"
        "SqliteDatabase(sys.argv[1]).ping()\n"
    )
    for trial in range(8):
        start = str(time.time() + 0.8)
        path = str(tmp_path / f"new{trial}.db")
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", script, path, start],
                cwd=ROOT,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for worker in workers:
            _, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err[-500:]
