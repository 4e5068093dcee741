"""Storage on SQLite: file records with trigger-maintained usage totals, daily counters.

The usage table is kept by triggers on the records table, so a record insert or delete and its
running totals commit in the same statement: `get_quota_status` reads two rows instead of
summing 100,000.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from core.db._sqlite_records import export_tables, import_tables
from core.db.records import ImportReport, Records, RecordStream
from core.db.sqlite import Migration, SqliteDatabase
from core.ids import guild_of
from core.storage.repository import (
    GLOBAL_OWNER,
    DailyCounterRepository,
    FileRecord,
    FileRepository,
    StoredPath,
    Usage,
)

MIGRATIONS = (
    Migration(
        "storage_0001_create",
        """
        CREATE TABLE storage_files (
            file_id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            path TEXT NOT NULL UNIQUE,
            bytes INTEGER NOT NULL CHECK (bytes >= 0),
            sha256 TEXT NOT NULL,
            content_type TEXT NOT NULL,
            kept INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX storage_files_user ON storage_files (user_id, scope, created_at);
        CREATE INDEX storage_files_scope ON storage_files (scope);
        CREATE INDEX storage_files_expiry ON storage_files (kept, created_at);
        CREATE TABLE storage_usage (
            owner TEXT PRIMARY KEY,
            bytes INTEGER NOT NULL,
            files INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TRIGGER storage_files_added AFTER INSERT ON storage_files BEGIN
            INSERT INTO storage_usage (owner, bytes, files) VALUES (NEW.user_id, NEW.bytes, 1)
                ON CONFLICT (owner) DO UPDATE SET
                    bytes = bytes + excluded.bytes, files = files + 1;
            INSERT INTO storage_usage (owner, bytes, files) VALUES ('*', NEW.bytes, 1)
                ON CONFLICT (owner) DO UPDATE SET
                    bytes = bytes + excluded.bytes, files = files + 1;
        END;
        CREATE TRIGGER storage_files_removed AFTER DELETE ON storage_files BEGIN
            UPDATE storage_usage SET bytes = bytes - OLD.bytes, files = files - 1
                WHERE owner IN (OLD.user_id, '*');
        END;
        CREATE TABLE quota_daily (
            user_id TEXT NOT NULL,
            day TEXT NOT NULL,
            used INTEGER NOT NULL CHECK (used >= 0),
            PRIMARY KEY (user_id, day)
        ) WITHOUT ROWID;
        """,
    ),
    # The gallery reads a member's kept files newest first.
    Migration(
        "storage_0002_kept_index",
        "CREATE INDEX storage_files_kept ON storage_files (user_id, kept, created_at);",
    ),
)

_COLUMNS = "file_id, user_id, scope, path, bytes, sha256, content_type, kept, created_at, metadata"
_INSERT = f"INSERT INTO storage_files ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# The guard is inside the statement: a full day's row is left alone and nothing is returned.
_RESERVE = """
INSERT INTO quota_daily (user_id, day, used) VALUES (?, ?, 1)
ON CONFLICT (user_id, day) DO UPDATE SET used = used + 1 WHERE used < ?
RETURNING used
"""
_RELEASE = "UPDATE quota_daily SET used = used - 1 WHERE user_id = ? AND day = ? AND used > 0"


def stamp(moment: datetime) -> str:
    """Fixed-width UTC text, so string order is time order."""
    return moment.isoformat(timespec="microseconds")


def _row(record: FileRecord, scope: str) -> tuple[Any, ...]:
    return (
        record.file_id,
        record.user_id,
        scope,
        record.path,
        record.bytes,
        record.sha256,
        record.content_type,
        int(record.kept),
        stamp(record.created_at),
        json.dumps(dict(record.metadata), ensure_ascii=False, sort_keys=True),
    )


def _record(row: Any) -> FileRecord:
    return FileRecord(
        file_id=row["file_id"],
        user_id=row["user_id"],
        guild_id=guild_of(row["scope"]),
        path=row["path"],
        bytes=row["bytes"],
        sha256=row["sha256"],
        content_type=row["content_type"],
        kept=bool(row["kept"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        metadata=json.loads(row["metadata"]),
    )


class SqliteFileRepository(FileRepository):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    # --- moving data between backends (core.db.records) ----------------------------------

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)

    def _conn(self):  # noqa: ANN202
        return self._db.connection()

    def insert(self, record: FileRecord, scope: str) -> None:
        with self._db.errors():
            # One statement: the triggers move the totals inside its implicit transaction.
            self._conn().execute(_INSERT, _row(record, scope))

    def insert_many(self, records: Iterable[tuple[FileRecord, str]]) -> int:
        rows = [_row(record, scope) for record, scope in records]
        with self._db.transaction() as conn:
            conn.executemany(_INSERT, rows)
        return len(rows)

    def get(self, file_id: str) -> FileRecord | None:
        with self._db.errors():
            row = (
                self._conn()
                .execute(f"SELECT {_COLUMNS} FROM storage_files WHERE file_id = ?", (file_id,))
                .fetchone()
            )
        return None if row is None else _record(row)

    def find_by_path(self, path: str) -> FileRecord | None:
        with self._db.errors():
            row = (
                self._conn()
                .execute(f"SELECT {_COLUMNS} FROM storage_files WHERE path = ?", (path,))
                .fetchone()
            )
        return None if row is None else _record(row)

    def list_for_user(self, user_id: str, scope: str | None, limit: int) -> list[FileRecord]:
        sql = f"SELECT {_COLUMNS} FROM storage_files WHERE user_id = ?"
        params: list[Any] = [user_id]
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        sql += " ORDER BY created_at DESC, file_id DESC LIMIT ?"
        params.append(limit)
        with self._db.errors():
            return [_record(row) for row in self._conn().execute(sql, params)]

    def delete(self, file_id: str) -> FileRecord | None:
        with self._db.errors():
            row = (
                self._conn()
                .execute(
                    f"DELETE FROM storage_files WHERE file_id = ? RETURNING {_COLUMNS}",
                    (file_id,),
                )
                .fetchone()
            )
        return None if row is None else _record(row)

    def delete_owned(self, file_id: str, user_id: str) -> FileRecord | None:
        with self._db.errors():
            row = (
                self._conn()
                .execute(
                    "DELETE FROM storage_files WHERE file_id = ? AND user_id = ?"
                    f" RETURNING {_COLUMNS}",
                    (file_id, user_id),
                )
                .fetchone()
            )
        return None if row is None else _record(row)

    def set_kept(self, file_id: str, user_id: str, kept: bool) -> FileRecord | None:
        with self._db.errors():
            row = (
                self._conn()
                .execute(
                    "UPDATE storage_files SET kept = ? WHERE file_id = ? AND user_id = ?"
                    f" RETURNING {_COLUMNS}",
                    (int(kept), file_id, user_id),
                )
                .fetchone()
            )
        return None if row is None else _record(row)

    def kept_for_user(
        self, user_id: str, scope: str | None, offset: int, limit: int
    ) -> list[FileRecord]:
        sql = f"SELECT {_COLUMNS} FROM storage_files WHERE user_id = ? AND kept = 1"
        params: list[Any] = [user_id]
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        sql += " ORDER BY created_at DESC, file_id DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        with self._db.errors():
            return [_record(row) for row in self._conn().execute(sql, params)]

    def delete_many(self, file_ids: Sequence[str]) -> int:
        deleted = 0
        with self._db.transaction() as conn:
            # Chunks stay under SQLite's bound-parameter limit.
            for start in range(0, len(file_ids), 500):
                chunk = file_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                deleted += conn.execute(
                    f"DELETE FROM storage_files WHERE file_id IN ({marks})", chunk
                ).rowcount
        return deleted

    def usage(self, owner: str) -> Usage:
        with self._db.errors():
            row = (
                self._conn()
                .execute("SELECT bytes, files FROM storage_usage WHERE owner = ?", (owner,))
                .fetchone()
            )
        return Usage(owner, row[0], row[1]) if row else Usage(owner, 0, 0)

    def top_users(self, limit: int) -> list[Usage]:
        with self._db.errors():
            rows = self._conn().execute(
                "SELECT owner, bytes, files FROM storage_usage WHERE owner != ? AND files > 0"
                " ORDER BY bytes DESC, owner LIMIT ?",
                (GLOBAL_OWNER, limit),
            )
            return [Usage(*row) for row in rows]

    def expired(self, kept: bool, before: datetime) -> list[StoredPath]:
        with self._db.errors():
            rows = self._conn().execute(
                "SELECT file_id, path, bytes FROM storage_files WHERE kept = ? AND created_at < ?",
                (int(kept), stamp(before)),
            )
            return [StoredPath(*row) for row in rows]

    def all_paths(self) -> dict[str, StoredPath]:
        with self._db.errors():
            rows = self._conn().execute("SELECT file_id, path, bytes FROM storage_files")
            return {row[1]: StoredPath(*row) for row in rows}

    def count(self) -> int:
        with self._db.errors():
            return self._conn().execute("SELECT COUNT(*) FROM storage_files").fetchone()[0]


class SqliteDailyCounterRepository(DailyCounterRepository):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    # --- moving data between backends (core.db.records) ----------------------------------

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)

    def reserve(self, user_id: str, day: str, limit: int) -> int | None:
        if limit <= 0:
            return None
        with self._db.errors():
            row = self._db.connection().execute(_RESERVE, (user_id, day, limit)).fetchone()
        return None if row is None else row[0]

    def release(self, user_id: str, day: str) -> bool:
        with self._db.errors():
            return self._db.connection().execute(_RELEASE, (user_id, day)).rowcount == 1

    def used(self, user_id: str, day: str) -> int:
        with self._db.errors():
            row = (
                self._db.connection()
                .execute(
                    "SELECT used FROM quota_daily WHERE user_id = ? AND day = ?", (user_id, day)
                )
                .fetchone()
            )
        return row[0] if row else 0
