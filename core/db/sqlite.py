"""The embedded backend: one SQLite file in the data dir, WAL, safe for several processes.

Each thread gets its own connection (the bot runs core calls in worker threads). Writes that
must be atomic run inside `transaction()`, a `BEGIN IMMEDIATE` that takes the write lock up
front, so two processes never interleave a read and a write of the same rows.
Schema changes are named migrations, applied once each, in order, inside one transaction with
their record in `schema_migrations`; an applied migration is never edited.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from core.errors import (
    ConfigError,
    DatabaseCorrupt,
    DatabaseLost,
    DiskFull,
    ReadOnlyStorage,
    ServiceUnavailable,
    storage_error,
)
from core.paths import atomic_write

log = logging.getLogger(__name__)

# Written beside the database once its first migration is committed; from then on a missing
# or empty database file is data loss, not a fresh install.
MARKER_SUFFIX = ".schema"
MARKER_TEXT = (
    "Abby created a schema in the database beside this file. While this file exists, a\n"
    "missing or empty database is an error, not a new start. Delete it only on purpose.\n"
)


@dataclass(frozen=True)
class Migration:
    """One forward schema step. `apply` is SQL (run as a script) or a function of the cursor."""

    name: str
    apply: str | Callable[[sqlite3.Connection], None]


# Primary result codes (the low byte of `sqlite_errorcode`).
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
# Below this much free space an I/O error is taken for a full disk: SQLite reports a failed
# shared-memory or WAL extension as a bare "disk I/O error", without the errno.
_NEARLY_FULL_BYTES = 256 * 1024


def _file_system_state(path: Path) -> Exception | None:
    """DiskFull or ReadOnlyStorage when the file system holding `path` is in that state."""
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return ReadOnlyStorage(
            f"cannot write the database {path}: the file system is read-only; remount it and retry"
        )
    if stats.f_bavail * stats.f_frsize < _NEARLY_FULL_BYTES:
        return DiskFull(
            f"cannot write the database {path}: no space left on the device (disk full);"
            " free some and retry"
        )
    import resource

    # A write past RLIMIT_FSIZE fails with EFBIG, which SQLite also reports as an I/O error.
    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        return DiskFull(
            f"cannot write the database {path}: the file size limit (ulimit -f) is reached;"
            " raise it and retry"
        )
    return None


def _translate(exc: sqlite3.Error, path: Path) -> Exception:
    text = str(exc)
    primary = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if primary == _SQLITE_FULL or "database or disk is full" in text:
        return DiskFull(
            f"cannot write the database {path}: no space left on the device (disk full)"
            " or the file size limit is reached; free some and retry"
        )
    if primary in (_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN) or "readonly" in text:
        state = _file_system_state(path)
        if state is not None:
            return state
        if primary == _SQLITE_READONLY or "readonly" in text:
            return ReadOnlyStorage(
                f"cannot write the database {path}: it is read-only (check its permissions)"
            )
    if "file is not a database" in text or "database disk image is malformed" in text:
        return DatabaseCorrupt(
            f"the database {path} is damaged or not a SQLite database ({text}): restore it"
            " from a backup",
            path=str(path),
        )
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in text or "busy" in text:
            return ServiceUnavailable(f"the database {path} stayed locked by another process")
        if "unable to open" in text or "disk I/O" in text:
            return ConfigError(f"cannot write the database {path}: {text}")
    return exc


def _create_private(path: Path) -> None:
    """Create a missing database file 0600 before SQLite opens it: SQLite gives its -wal and
    -shm files the database file's own mode, so the whole store stays owner-only whatever
    the umask (it holds balances, the ledger and profiles)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        pass


class SqliteDatabase:
    """A handle on the SQLite file; cheap to share, opens connections per thread."""

    backend: Literal["sqlite"] = "sqlite"

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._applied: set[str] | None = None
        self._marked = False

    @property
    def location(self) -> str:
        return str(self.path)

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @property
    def marker(self) -> Path:
        """The file beside the database that says a schema was created in it."""
        return self.path.with_name(self.path.name + MARKER_SUFFIX)

    def _check_not_lost(self) -> None:
        """Refuse a database file that is missing or empty although a schema was created.

        SQLite would silently start a new, empty database there: balances read 0, an audit
        passes, and a RAG repair deletes every vector whose record is "gone". The operator
        must restore the file (or remove the marker to start afresh on purpose).
        """
        if not self.marker.exists():
            return
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            state = "is missing"
        else:
            if size:
                return
            state = "is empty (0 bytes)"
        raise DatabaseLost(
            f"the database {self.path} {state}, but a schema was created there before "
            f"({self.marker.name} beside it): restore it from a backup, or delete "
            f"{self.marker} to start a new, empty database",
            path=str(self.path),
        )

    def _mark_initialised(self) -> None:
        if self._marked:
            return
        if not self.marker.exists():
            atomic_write(self.marker, MARKER_TEXT.encode("ascii"), mode=0o600)
        self._marked = True

    def _open(self) -> sqlite3.Connection:
        # Before anything creates the file: an empty one would be taken for a fresh start.
        self._check_not_lost()
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _create_private(self.path)
            # isolation_level=None: we issue BEGIN ourselves, so nothing commits behind our back.
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._use_wal(conn)
            # NORMAL is durable across process crashes in WAL mode; only a power cut can lose
            # the last commits, never corrupt the file.
            conn.execute("PRAGMA synchronous = NORMAL")
            # Checkpoint every ~40 MB of WAL instead of ~4 MB: each checkpoint fsyncs, and with
            # one commit per grant or transfer it was a fifth of the cost (scripts/bench_economy).
            conn.execute("PRAGMA wal_autocheckpoint = 10000")
            conn.execute("PRAGMA foreign_keys = ON")
        except OSError as exc:
            full = storage_error(exc, self.path)
            if full is not None:
                raise full from exc
            raise ConfigError(f"cannot open the database {self.path}: {exc.strerror}") from exc
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL once; wait out another process doing the same.

        Changing the journal mode needs an exclusive lock and SQLite reports a busy database
        at once there, without the busy handler: two processes opening a new file together
        (bot and cron, or test workers) would otherwise fail one of them.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block as one write transaction (BEGIN IMMEDIATE ... COMMIT)."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            # Also on Ctrl-C during COMMIT: never leave this thread's connection mid-transaction.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                translated = _translate(exc, self.path)
                if translated is not exc:
                    raise translated from exc
            raise

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Translate sqlite3 errors raised inside the block into Abby's vocabulary."""
        try:
            yield
        except sqlite3.Error as exc:
            translated = _translate(exc, self.path)
            if translated is exc:
                raise
            raise translated from exc

    # --- queries: the connection and the error translation in one call ---------------------

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement on this thread's connection; errors in Abby's vocabulary."""
        with self.errors():
            return self.connection().execute(sql, params)

    def one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        with self.errors():
            row: sqlite3.Row | None = self.connection().execute(sql, params).fetchone()
            return row

    def all(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        """Every row of a query."""
        with self.errors():
            return self.connection().execute(sql, params).fetchall()

    def value(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:  # noqa: ANN401 - a column of any type
        """The first column of the first row (`SELECT COUNT(*) ...`), or None when no row."""
        row = self.one(sql, params)
        return None if row is None else row[0]

    def run(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> int:
        """Run a write statement; return the number of rows it changed."""
        return self.execute(sql, params).rowcount

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run a write statement once per row (executemany); return the rows changed."""
        with self.errors():
            return self.connection().executemany(sql, rows).rowcount

    # --- schema -----------------------------------------------------------------------------

    def applied_migrations(self) -> set[str]:
        conn = self.connection()
        with self.errors():
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            return {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}

    def migrate(self, migrations: Sequence[Migration]) -> list[str]:
        """Apply the migrations not applied yet, in order; return the names applied now."""
        if self._applied is None:
            self._applied = self.applied_migrations()
        if self._applied:
            self._mark_initialised()  # also for databases created before the marker existed
        if all(m.name in self._applied for m in migrations):
            return []
        done: list[str] = []
        for migration in migrations:
            if migration.name in self._applied:
                continue
            with self.transaction() as conn:
                # Another process may have applied it while we waited for the write lock.
                if conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE name = ?", (migration.name,)
                ).fetchone():
                    self._applied.add(migration.name)
                    continue
                if isinstance(migration.apply, str):
                    for statement in _split_sql(migration.apply):
                        conn.execute(statement)
                else:
                    migration.apply(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (migration.name, datetime.now(UTC).isoformat()),
                )
            self._applied.add(migration.name)
            done.append(migration.name)
            log.info("applied migration %s", migration.name)
        if self._applied:
            self._mark_initialised()
        return done

    def schema(self) -> dict[str, int]:
        """Each domain's latest migration number ("xp_0003_utc_stamps" -> xp: 3)."""
        versions: dict[str, int] = {}
        for name in self.applied_migrations():
            # "xp_0001_create", "rag_passages_0001_fts5": the domain, then a number.
            domain, *rest = name.split("_")
            number = next((int(part) for part in rest if part.isdigit()), 0)
            versions[domain] = max(versions.get(domain, 0), number)
        return dict(sorted(versions.items()))

    def tables(self) -> dict[str, int]:
        """Each table's row count (schema bookkeeping excluded)."""
        conn = self.connection()
        with self.errors():
            names = [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                    " AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY name"
                )
            ]
            return {
                name: conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names
            }

    def ping(self) -> None:
        """Prove a write round trip works (used by `abby doctor`)."""
        with self.transaction() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS _ping (x INTEGER)")
            conn.execute("INSERT INTO _ping VALUES (1)")
            conn.execute("DELETE FROM _ping")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def _split_sql(script: str) -> list[str]:
    # executescript() would COMMIT our transaction first; run statement by statement instead.
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
