"""Users on SQLite."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.db._sqlite_records import SqlitePortable
from core.db.codec import SQLITE, restamp
from core.db.sqlite import Migration, SqliteDatabase
from core.scope import Scope
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
    # Profiles were stamped with the clock's own isoformat() (any offset, any width): one
    # fixed-width UTC form from here on. privacy_exports keeps REAL epoch seconds, which its
    # guarded claim compares as numbers.
    Migration("users_0003_utc_stamps", restamp("users", "created_at", "updated_at")),
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


class SqliteUserRepository(UserRepository, SqlitePortable):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    def upsert(
        self, user_id: str, scope: Scope, username: str, discriminator: str | None, now: datetime
    ) -> None:
        stamp = SQLITE.time(now)
        self._db.run(_UPSERT, (user_id, scope.key, username, discriminator, stamp, stamp))

    def create(self, user_id: str, scope: Scope, username: str, now: datetime) -> bool:
        stamp = SQLITE.time(now)
        return (
            self._db.run(
                "INSERT INTO users (user_id, scope, username, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, scope) DO NOTHING",
                (user_id, scope.key, username, stamp, stamp),
            )
            == 1
        )

    def get(self, user_id: str, scope: Scope) -> UserProfile | None:
        row = self._db.one(
            "SELECT * FROM users WHERE user_id = ? AND scope = ?", (user_id, scope.key)
        )
        return None if row is None else SQLITE.decode(UserProfile, row)

    def update(self, user_id: str, scope: Scope, fields: Mapping[str, Any], now: datetime) -> bool:
        # Column names come from the service's whitelist, never from the caller directly.
        assignments = ", ".join(f"{name} = ?" for name in fields)
        changed = self._db.run(
            f"UPDATE users SET {assignments}, updated_at = ? WHERE user_id = ? AND scope = ?",
            (*fields.values(), SQLITE.time(now), user_id, scope.key),
        )
        return changed == 1

    def count(self) -> int:
        return int(self._db.value("SELECT COUNT(*) FROM users"))

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def member_profiles(self, user_id: str) -> list[UserProfile]:
        rows = self._db.all("SELECT * FROM users WHERE user_id = ? ORDER BY scope", (user_id,))
        return [SQLITE.decode(UserProfile, row) for row in rows]

    def erase_member(self, user_id: str, scope: Scope) -> int:
        return self._db.run(
            "DELETE FROM users WHERE user_id = ? AND scope = ?", (user_id, scope.key)
        )

    def claim_export(self, user_id: str, now: float, not_before: float) -> float | None:
        with self._db.transaction() as conn:
            if conn.execute(_CLAIM_EXPORT, (user_id, now, not_before)).rowcount == 1:
                return None
            row = conn.execute(
                "SELECT exported_at FROM privacy_exports WHERE user_id = ?", (user_id,)
            ).fetchone()
        return now if row is None else float(row[0])

    def drop_export(self, user_id: str, at: float | None = None) -> int:
        sql = "DELETE FROM privacy_exports WHERE user_id = ?"
        args: tuple[object, ...] = (user_id,)
        if at is not None:
            sql, args = sql + " AND exported_at = ?", (user_id, at)
        return self._db.run(sql, args)
