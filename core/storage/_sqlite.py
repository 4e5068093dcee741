"""Storage on SQLite: file records with trigger-maintained usage totals, daily counters.

The usage table is kept by triggers on the records table, so a record insert or delete and its
running totals commit in the same statement: `get_quota_status` reads two rows instead of
summing 100,000.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.db._sqlite_records import SqlitePortable
from core.db.codec import SQLITE, restamp
from core.db.sqlite import Migration, SqliteDatabase
from core.scope import Scope
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
    # Creation times were written by isoformat() without a conversion to UTC: rewrite them in
    # the codec's fixed-width UTC form, so text order is time order again for every row.
    Migration("storage_0003_utc_stamps", restamp("storage_files", "created_at")),
)

_COLUMNS = "file_id, user_id, scope, path, bytes, sha256, content_type, kept, created_at, metadata"
_INSERT = (
    f"INSERT INTO storage_files ({_COLUMNS}) VALUES (:file_id, :user_id, :scope, :path,"
    " :bytes, :sha256, :content_type, :kept, :created_at, :metadata)"
)
_SELECT = f"SELECT {_COLUMNS} FROM storage_files"
# The guard is inside the statement: a full day's row is left alone and nothing is returned.
_RESERVE = """
INSERT INTO quota_daily (user_id, day, used) VALUES (?, ?, 1)
ON CONFLICT (user_id, day) DO UPDATE SET used = used + 1 WHERE used < ?
RETURNING used
"""
_RELEASE = "UPDATE quota_daily SET used = used - 1 WHERE user_id = ? AND day = ? AND used > 0"


def _row(record: FileRecord) -> dict[str, Any]:
    row = SQLITE.encode(record)
    row["metadata"] = json.dumps(dict(record.metadata), ensure_ascii=False, sort_keys=True)
    return row


def _record(row: sqlite3.Row) -> FileRecord:
    return SQLITE.decode(
        FileRecord, row, kept=bool(row["kept"]), metadata=json.loads(row["metadata"])
    )


def _in_scope(sql: str, params: list[Any], scope: Scope) -> str:
    """`sql` narrowed to one scope (nothing added for Scope.EVERY)."""
    if scope.is_every:
        return sql
    params.append(scope.key)
    return sql + " AND scope = ?"


class SqliteFileRepository(FileRepository, SqlitePortable):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    def insert(self, record: FileRecord) -> None:
        # One statement: the triggers move the totals inside its implicit transaction.
        self._db.run(_INSERT, _row(record))

    def get(self, file_id: str) -> FileRecord | None:
        return self._one(f"{_SELECT} WHERE file_id = ?", (file_id,))

    def find_by_path(self, path: str) -> FileRecord | None:
        return self._one(f"{_SELECT} WHERE path = ?", (path,))

    def list_for_user(self, user_id: str, scope: Scope, limit: int) -> list[FileRecord]:
        params: list[Any] = [user_id]
        sql = _in_scope(f"{_SELECT} WHERE user_id = ?", params, scope)
        sql += " ORDER BY created_at DESC, file_id DESC LIMIT ?"
        return self._records(sql, [*params, limit])

    def delete(self, file_id: str) -> FileRecord | None:
        sql = f"DELETE FROM storage_files WHERE file_id = ? RETURNING {_COLUMNS}"
        return self._one(sql, (file_id,))

    def delete_owned(self, file_id: str, user_id: str) -> FileRecord | None:
        sql = f"DELETE FROM storage_files WHERE file_id = ? AND user_id = ? RETURNING {_COLUMNS}"
        return self._one(sql, (file_id, user_id))

    def set_kept(self, file_id: str, user_id: str, kept: bool) -> FileRecord | None:
        sql = (
            "UPDATE storage_files SET kept = ? WHERE file_id = ? AND user_id = ?"
            f" RETURNING {_COLUMNS}"
        )
        return self._one(sql, (int(kept), file_id, user_id))

    def kept_for_user(
        self, user_id: str, scope: Scope, offset: int, limit: int
    ) -> list[FileRecord]:
        params: list[Any] = [user_id]
        sql = _in_scope(f"{_SELECT} WHERE user_id = ? AND kept = 1", params, scope)
        sql += " ORDER BY created_at DESC, file_id DESC LIMIT ? OFFSET ?"
        return self._records(sql, [*params, limit, offset])

    def _one(self, sql: str, params: Sequence[Any]) -> FileRecord | None:
        row = self._db.one(sql, params)
        return None if row is None else _record(row)

    def _records(self, sql: str, params: Sequence[Any]) -> list[FileRecord]:
        return [_record(row) for row in self._db.all(sql, params)]

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
        row = self._db.one("SELECT bytes, files FROM storage_usage WHERE owner = ?", (owner,))
        return Usage(owner, row[0], row[1]) if row else Usage(owner, 0, 0)

    def top_users(self, limit: int) -> list[Usage]:
        rows = self._db.all(
            "SELECT owner, bytes, files FROM storage_usage WHERE owner != ? AND files > 0"
            " ORDER BY bytes DESC, owner LIMIT ?",
            (GLOBAL_OWNER, limit),
        )
        return [Usage(*row) for row in rows]

    def expired(self, kept: bool, before: datetime) -> list[StoredPath]:
        rows = self._db.all(
            "SELECT file_id, path, bytes FROM storage_files WHERE kept = ? AND created_at < ?",
            (int(kept), SQLITE.time(before)),
        )
        return [StoredPath(*row) for row in rows]

    def all_paths(self) -> dict[str, StoredPath]:
        rows = self._db.all("SELECT file_id, path, bytes FROM storage_files")
        return {row[1]: StoredPath(*row) for row in rows}

    def count(self) -> int:
        return int(self._db.value("SELECT COUNT(*) FROM storage_files"))


class SqliteDailyCounterRepository(DailyCounterRepository, SqlitePortable):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    def reserve(self, user_id: str, day: str, limit: int) -> int | None:
        if limit <= 0:
            return None
        used = self._db.value(_RESERVE, (user_id, day, limit))
        return None if used is None else int(used)

    def release(self, user_id: str, day: str) -> bool:
        return self._db.run(_RELEASE, (user_id, day)) == 1

    def used(self, user_id: str, day: str) -> int:
        sql = "SELECT used FROM quota_daily WHERE user_id = ? AND day = ?"
        return int(self._db.value(sql, (user_id, day)) or 0)
