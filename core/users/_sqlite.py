"""Users on SQLite."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.db._sqlite_records import export_tables, import_tables
from core.db.records import ImportReport, Records, RecordStream
from core.db.sqlite import Migration, SqliteDatabase
from core.ids import guild_of
from core.users.repository import UserProfile, UserRepository

MIGRATIONS = (
    Migration(
        "users_0001_create",
        """
        CREATE TABLE users (
            user_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            username TEXT NOT NULL,
            discriminator TEXT,
            display_name TEXT,
            bio TEXT,
            timezone TEXT,
            locale TEXT,
            pronouns TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (user_id, scope)
        );
        """,
    ),
    Migration(
        "users_0002_privacy_exports",
        """
        CREATE TABLE privacy_exports (
            user_id TEXT PRIMARY KEY,
            exported_at REAL NOT NULL
        );
        """,
    ),
)

# The guard is in the statement: two processes claiming at once, one row changes.
_CLAIM_EXPORT = """
INSERT INTO privacy_exports (user_id, exported_at) VALUES (?, ?)
ON CONFLICT (user_id) DO UPDATE SET exported_at = excluded.exported_at
WHERE privacy_exports.exported_at <= ?
"""

_UPSERT = """
INSERT INTO users (user_id, scope, username, discriminator, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id, scope) DO UPDATE SET
    username = excluded.username,
    discriminator = excluded.discriminator,
    updated_at = excluded.updated_at
WHERE username IS NOT excluded.username OR discriminator IS NOT excluded.discriminator
"""
# ^ The bot refreshes a profile on every message: rewrite it only when the name changed.


class SqliteUserRepository(UserRepository):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    # --- moving data between backends (core.db.records) ----------------------------------

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)

    def upsert(
        self, user_id: str, scope: str, username: str, discriminator: str | None, now: datetime
    ) -> None:
        stamp = now.isoformat()
        with self._db.errors():
            self._db.connection().execute(
                _UPSERT, (user_id, scope, username, discriminator, stamp, stamp)
            )

    def create(self, user_id: str, scope: str, username: str, now: datetime) -> bool:
        stamp = now.isoformat()
        with self._db.errors():
            cursor = self._db.connection().execute(
                "INSERT INTO users (user_id, scope, username, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, scope) DO NOTHING",
                (user_id, scope, username, stamp, stamp),
            )
        return cursor.rowcount == 1

    def get(self, user_id: str, scope: str) -> UserProfile | None:
        with self._db.errors():
            row = (
                self._db.connection()
                .execute("SELECT * FROM users WHERE user_id = ? AND scope = ?", (user_id, scope))
                .fetchone()
            )
        if row is None:
            return None
        return _profile(row)

    def update(self, user_id: str, scope: str, fields: Mapping[str, Any], now: datetime) -> bool:
        # Column names come from the service's whitelist, never from the caller directly.
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._db.errors():
            cursor = self._db.connection().execute(
                f"UPDATE users SET {assignments}, updated_at = ? WHERE user_id = ? AND scope = ?",
                (*fields.values(), now.isoformat(), user_id, scope),
            )
        return cursor.rowcount == 1

    def count(self) -> int:
        with self._db.errors():
            return self._db.connection().execute("SELECT COUNT(*) FROM users").fetchone()[0]

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def member_profiles(self, user_id: str) -> list[UserProfile]:
        with self._db.errors():
            rows = (
                self._db.connection()
                .execute("SELECT * FROM users WHERE user_id = ? ORDER BY scope", (user_id,))
                .fetchall()
            )
        return [_profile(row) for row in rows]

    def erase_member(self, user_id: str, scope: str) -> int:
        with self._db.errors():
            cursor = self._db.connection().execute(
                "DELETE FROM users WHERE user_id = ? AND scope = ?", (user_id, scope)
            )
        return cursor.rowcount

    def claim_export(self, user_id: str, now: float, not_before: float) -> float | None:
        with self._db.transaction() as conn:
            if conn.execute(_CLAIM_EXPORT, (user_id, now, not_before)).rowcount == 1:
                return None
            row = conn.execute(
                "SELECT exported_at FROM privacy_exports WHERE user_id = ?", (user_id,)
            ).fetchone()
        return now if row is None else float(row[0])

    def drop_export(self, user_id: str, at: float | None = None) -> int:
        sql, args = "DELETE FROM privacy_exports WHERE user_id = ?", (user_id,)
        if at is not None:
            sql, args = sql + " AND exported_at = ?", (user_id, at)
        with self._db.errors():
            return self._db.connection().execute(sql, args).rowcount


def _profile(row: Any) -> UserProfile:
    return UserProfile(
        user_id=row["user_id"],
        guild_id=guild_of(row["scope"]),
        username=row["username"],
        discriminator=row["discriminator"],
        display_name=row["display_name"],
        bio=row["bio"],
        timezone=row["timezone"],
        locale=row["locale"],
        pronouns=row["pronouns"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )
