"""Storage errors are classified: disk full and read-only are typed, exit 75, one line.

The SQLite cases run the real sqlite3 against a real 1 MiB tmpfs (root only, else skipped);
the logging case runs in a separate process under a real file size limit.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import (
    ConfigError,
    DiskFull,
    ExitCode,
    ReadOnlyStorage,
    StorageUnavailable,
    storage_error,
)
from tests.conftest import ROOT
from tests.support.tiny_fs import fill, mounted_tiny_fs


@pytest.mark.parametrize(
    ("number", "cls", "needle"),
    [
        (errno.ENOSPC, DiskFull, "disk full"),
        (errno.EDQUOT, DiskFull, "quota"),
        (errno.EFBIG, DiskFull, "file size limit"),
        (errno.EROFS, ReadOnlyStorage, "read-only"),
    ],
)
def test_storage_errnos_become_typed_temporary_failures(
    number: int, cls: type, needle: str
) -> None:
    typed = storage_error(OSError(number, os.strerror(number)), "/srv/abby/data")
    assert type(typed) is cls and typed.exit_code == ExitCode.TEMPORARY == 75
    assert needle in str(typed) and "/srv/abby/data" in str(typed)
    assert "\n" not in str(typed)
    # The file name an OSError carries wins over the fallback path.
    named = storage_error(OSError(number, os.strerror(number), "/srv/abby/data/keys"), "/x")
    assert "/srv/abby/data/keys" in str(named) and named.fields["path"] == "/srv/abby/data/keys"


def test_other_os_errors_are_not_storage_errors() -> None:
    for number in (errno.EACCES, errno.ENOENT, errno.EIO, errno.ENOTDIR):
        assert storage_error(OSError(number, os.strerror(number)), "/x") is None
    assert storage_error(ValueError("no"), "/x") is None


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for this test (needs root: skipped otherwise)."""
    with mounted_tiny_fs(tmp_path / "tiny") as mount:
        yield mount


def _database(path: Path):  # noqa: ANN202
    from core.db.sqlite import SqliteDatabase

    db = SqliteDatabase(path)
    with db.transaction() as conn:
        conn.execute("CREATE TABLE t (x BLOB)")
    return db


def test_sqlite_on_a_full_disk_raises_disk_full_and_keeps_its_rows(tiny_fs: Path) -> None:
    db = _database(tiny_fs / "abby.db")
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (x'01')")
    fill(tiny_fs)
    with pytest.raises(DiskFull, match="disk full") as caught:
        with db.transaction() as conn:
            for _ in range(50):
                conn.execute("INSERT INTO t VALUES (randomblob(65536))")
    assert str(tiny_fs / "abby.db") in str(caught.value)
    (tiny_fs / "filler").unlink()
    assert db.connection().execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1
    db.close()


def test_sqlite_on_a_read_only_file_system_raises_read_only_storage(tiny_fs: Path) -> None:
    _database(tiny_fs / "abby.db").close()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    try:
        from core.db.sqlite import SqliteDatabase

        db = SqliteDatabase(tiny_fs / "abby.db")
        with pytest.raises(ReadOnlyStorage, match="read-only"):
            with db.transaction() as conn:
                conn.execute("INSERT INTO t VALUES (x'01')")
        db.close()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)


def test_atomic_write_on_a_full_disk_raises_disk_full_and_keeps_the_old_file(
    tiny_fs: Path,
) -> None:
    from core.paths import atomic_write

    target = tiny_fs / "keys"
    atomic_write(target, b"old")
    fill(tiny_fs)
    with pytest.raises(DiskFull, match="disk full") as caught:
        atomic_write(target, b"new" * 100_000)
    assert str(target) in str(caught.value)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tiny_fs.iterdir()) == ["filler", "keys"]  # no temp file left


def test_an_unrelated_sqlite_error_is_not_called_disk_full(tmp_path: Path) -> None:
    import sqlite3

    from core.db.sqlite import _translate

    busy = _translate(sqlite3.OperationalError("database is locked"), tmp_path / "abby.db")
    assert not isinstance(busy, StorageUnavailable)
    cannot_open = _translate(sqlite3.OperationalError("unable to open database file"), tmp_path)
    assert isinstance(cannot_open, ConfigError)


def test_mongodb_out_of_disk_space_is_disk_full() -> None:
    from pymongo.errors import OperationFailure

    from core.db.mongo import translate

    failure = OperationFailure("Disk full", code=14031)
    assert isinstance(translate(failure, "mongodb://db:27017"), DiskFull)
    assert not isinstance(translate(OperationFailure("x", code=2), "db"), StorageUnavailable)


_LOG_UNDER_A_SIZE_LIMIT = """
import logging, resource, signal, sys
from core.telemetry.logs import setup_logging
setup_logging("INFO", sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
for i in range(200):
    logging.getLogger("abby.test").info("line %d %s", i, "x" * 200)
sys.stderr.write("survived\\n")
"""


def test_log_file_write_errors_never_print_logging_s_own_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LOG_UNDER_A_SIZE_LIMIT, str(tmp_path / "logs")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Logging error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    # One warning naming the file, once (not once per record), then the script went on.
    assert lines[-1] == "survived", done.stderr
    warnings = [line for line in lines if "cannot write the log file" in line]
    assert len(warnings) == 1 and "abby.log" in warnings[0], done.stderr
    assert (tmp_path / "logs" / "abby.log").stat().st_size <= 8192
