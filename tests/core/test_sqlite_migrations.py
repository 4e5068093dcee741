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


@pytest.mark.slow
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


def test_a_schema_marker_is_written_beside_the_database_once_it_has_a_schema(
    tmp_path: Path,
) -> None:
    db = SqliteDatabase(tmp_path / "m.db")
    db.connection()
    assert not db.marker.exists(), "no schema yet, so no marker"
    db.migrate(STEPS[:1])
    assert db.marker == tmp_path / "m.db.schema"
    assert (db.marker.stat().st_mode & 0o777) == 0o600
    db.close()
    # A database made before the marker existed gets one when it next opens its schema.
    db.marker.unlink()
    older = SqliteDatabase(tmp_path / "m.db")
    assert older.migrate(STEPS[:1]) == []
    assert older.marker.exists()
    older.close()


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["emptied", "deleted"])
def test_a_lost_database_is_an_error_naming_the_file_not_a_fresh_start(
    tmp_path: Path, damage: str
) -> None:
    """Issue #9 finding 8: a 0-byte (or missing) abby.db used to open as a new database:
    balances read 0 and the audit passed. Now every command stops with exit 78."""
    from tests.conftest import run_abby

    data = tmp_path / "data"
    env = {"ABBY_DATA_DIR": str(data)}
    assert run_abby("db", "init", env=env).exit_code == 0, "a truly fresh dir still initialises"
    assert (data / "abby.db.schema").exists()
    assert run_abby("bank", "add", "u1", "100", "-r", "seed", env=env).exit_code == 0

    database = data / "abby.db"
    for leftover in ("abby.db-wal", "abby.db-shm"):
        assert not (data / leftover).exists(), "the last connection checkpoints and removes it"
    if damage == "emptied":
        database.write_bytes(b"")
    else:
        database.unlink()

    for args in (("bank", "audit"), ("db", "init")):
        result = run_abby(*args, env=env)
        assert result.exit_code == 78, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(database) in lines[0], result.output
        assert "restore it from a backup" in lines[0]
    as_json = run_abby("bank", "balance", "u1", "--json", env=env)
    assert as_json.json()["error"]["code"] == "database_lost", as_json.output
    # Nothing was written over the evidence.
    assert (database.read_bytes() == b"") if damage == "emptied" else not database.exists()
