"""XP on SQLite: one row per (scope, user), a (scope, xp desc, user_id) index for ranks.

Every change is one statement: an upsert whose guard (the cooldown, the clamp at 0 and at
2^63-1) sits inside it, returning the old and new totals. SQLite evaluates the right-hand
sides of an UPDATE against the old row, so `prev_xp = xp` records the value before the change.
Times: `xp_settings.updated_at` is `stamp` text (core.db.codec); the XP row's times and the
pending marks' `changed_at` stay REAL epoch seconds, because the cooldown guard compares
`last_grant_at <= :now - :cooldown` in the grant's one statement and a mark is cleared by
equality on `changed_at`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from core.db._sqlite_records import SqlitePortable
from core.db.codec import SQLITE, restamp
from core.db.sqlite import Migration, SqliteDatabase
from core.economy.levels import MAX_INT64
from core.economy.repository import PendingLevel, XpRepository
from core.scope import Scope

MIGRATIONS = (
    Migration(
        "xp_0001_create",
        """
        CREATE TABLE xp (
            scope TEXT NOT NULL,
            user_id TEXT NOT NULL,
            xp INTEGER NOT NULL CHECK (xp >= 0),
            prev_xp INTEGER NOT NULL DEFAULT 0,
            last_grant_at REAL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (scope, user_id)
        ) WITHOUT ROWID;
        CREATE INDEX xp_rank ON xp (scope, xp DESC, user_id);
        CREATE TABLE xp_settings (
            scope TEXT PRIMARY KEY,
            settings TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    ),
    Migration(
        "xp_0002_level_pending",
        # Members whose level changed: the bot reconciles their reward roles, then deletes
        # the row (guarded by changed_at). Written in the XP change's own transaction.
        """
        CREATE TABLE xp_level_pending (
            scope TEXT NOT NULL,
            user_id TEXT NOT NULL,
            level INTEGER NOT NULL,
            changed_at REAL NOT NULL,
            PRIMARY KEY (scope, user_id)
        ) WITHOUT ROWID;
        CREATE INDEX xp_level_pending_changed ON xp_level_pending (scope, changed_at);
        """,
    ),
    # Settings times were `isoformat()` text of varying width; now fixed-width UTC stamps.
    Migration("xp_0003_utc_stamps", restamp("xp_settings", "updated_at")),
)

_MAX = str(MAX_INT64)
# Parameters: scope, user_id, delta, now. Clamp to [0, MAX] without ever computing past MAX
# (SQLite would silently turn an overflowing integer into a float).
_ADD = f"""
INSERT INTO xp (scope, user_id, xp, prev_xp, updated_at)
VALUES (:scope, :user_id, max(0, :delta), 0, :now)
ON CONFLICT (scope, user_id) DO UPDATE SET
    prev_xp = xp,
    xp = CASE
        WHEN :delta >= 0 THEN (CASE WHEN xp > {_MAX} - :delta THEN {_MAX} ELSE xp + :delta END)
        ELSE max(0, xp + :delta)
    END,
    updated_at = :now
RETURNING prev_xp, xp
"""
# The cooldown check and the grant in one statement: when the WHERE of DO UPDATE is false
# the row is left alone and RETURNING yields nothing.
_GRANT = f"""
INSERT INTO xp (scope, user_id, xp, prev_xp, last_grant_at, updated_at)
VALUES (:scope, :user_id, :amount, 0, :now, :now)
ON CONFLICT (scope, user_id) DO UPDATE SET
    prev_xp = xp,
    xp = CASE WHEN xp > {_MAX} - :amount THEN {_MAX} ELSE xp + :amount END,
    last_grant_at = :now,
    updated_at = :now
WHERE last_grant_at IS NULL OR last_grant_at <= :now - :cooldown
RETURNING prev_xp, xp
"""
_SET = """
INSERT INTO xp (scope, user_id, xp, prev_xp, updated_at) VALUES (?, ?, ?, 0, ?)
ON CONFLICT (scope, user_id) DO UPDATE SET prev_xp = xp, xp = excluded.xp,
    updated_at = excluded.updated_at
WHERE xp != excluded.xp
"""
# The import modes other than replace: each keeps its rule inside the one statement.
_SET_MAX = """
INSERT INTO xp (scope, user_id, xp, prev_xp, updated_at) VALUES (?, ?, ?, 0, ?)
ON CONFLICT (scope, user_id) DO UPDATE SET prev_xp = xp, xp = excluded.xp,
    updated_at = excluded.updated_at
WHERE excluded.xp > xp
"""
_SET_ADD = f"""
INSERT INTO xp (scope, user_id, xp, prev_xp, updated_at) VALUES (?, ?, ?, 0, ?)
ON CONFLICT (scope, user_id) DO UPDATE SET prev_xp = xp,
    xp = CASE WHEN xp > {MAX_INT64} - excluded.xp THEN {MAX_INT64} ELSE xp + excluded.xp END,
    updated_at = excluded.updated_at
WHERE excluded.xp > 0 AND xp < {MAX_INT64}
"""
_SET_BY_MODE = {"replace": _SET, "max": _SET_MAX, "add": _SET_ADD}
_RANK = """
SELECT (SELECT COUNT(*) FROM xp WHERE scope = :scope AND xp > :xp)
     + (SELECT COUNT(*) FROM xp WHERE scope = :scope AND xp = :xp AND user_id < :user_id)
"""


class SqliteXpRepository(XpRepository, SqlitePortable):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    def get(self, user_id: str, scope: Scope) -> int | None:
        xp: int | None = self._db.value(
            "SELECT xp FROM xp WHERE scope = ? AND user_id = ?", (scope.key, user_id)
        )
        return xp

    def add(self, user_id: str, scope: Scope, delta: int, now: datetime) -> tuple[int, int]:
        params = {"scope": scope.key, "user_id": user_id, "delta": delta, "now": now.timestamp()}
        # all() steps the statement to its end, so its implicit transaction commits.
        ((previous, new),) = self._db.all(_ADD, params)
        return previous, new

    def grant_if_cooled(
        self, user_id: str, scope: Scope, amount: int, now: float, cooldown: float
    ) -> tuple[int, int] | None:
        params = {"scope": scope.key, "user_id": user_id, "amount": amount, "now": now,
                  "cooldown": cooldown}  # fmt: skip
        rows = self._db.all(_GRANT, params)
        return (rows[0][0], rows[0][1]) if rows else None

    def set_many(
        self, scope: Scope, rows: Sequence[tuple[str, int]], now: datetime, *, mode: str = "replace"
    ) -> int:
        at = now.timestamp()
        with self._db.transaction() as conn:
            before = conn.total_changes
            conn.executemany(_SET_BY_MODE[mode], [(scope.key, u, xp, at) for u, xp in rows])
            return conn.total_changes - before

    def top(self, scope: Scope, limit: int, offset: int = 0) -> list[tuple[str, int]]:
        rows = self._db.all(
            "SELECT user_id, xp FROM xp WHERE scope = ? ORDER BY xp DESC, user_id LIMIT ? OFFSET ?",
            (scope.key, limit, offset),
        )
        return [(row[0], row[1]) for row in rows]

    def rank(self, user_id: str, scope: Scope, xp: int) -> int:
        ahead: int = self._db.value(_RANK, {"scope": scope.key, "xp": xp, "user_id": user_id})
        return 1 + ahead

    def count(self, scope: Scope) -> int:
        count: int = self._db.value("SELECT COUNT(*) FROM xp WHERE scope = ?", (scope.key,))
        return count

    # --- level changes the bot reconciles roles for -------------------------------------

    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        conn = self._db.connection()
        if conn.in_transaction:  # the grant writer's batch: join it
            yield conn
            return
        with self._db.transaction() as conn:
            yield conn

    def add_many(
        self, scope: Scope, user_ids: Sequence[str], amount: int, now: datetime
    ) -> list[tuple[str, int, int]]:
        at = now.timestamp()
        out = []
        with self.atomic() as conn, self._db.errors():
            for user_id in user_ids:
                params = {"scope": scope.key, "user_id": user_id, "delta": amount, "now": at}
                ((previous, new),) = conn.execute(_ADD, params).fetchall()
                out.append((user_id, previous, new))
        return out

    def mark_levels(self, scope: Scope, marks: Sequence[tuple[str, int, float]]) -> None:
        self._db.run_many(
            "INSERT INTO xp_level_pending (scope, user_id, level, changed_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (scope, user_id) DO UPDATE SET"
            " level = excluded.level, changed_at = excluded.changed_at",
            [(scope.key, user_id, level, at) for user_id, level, at in marks],
        )

    def pending_levels(self, scopes: Sequence[Scope], limit: int) -> list[PendingLevel]:
        out: list[PendingLevel] = []
        for scope in scopes:  # one index range per scope
            rows = self._db.all(
                "SELECT user_id, level, changed_at FROM xp_level_pending WHERE scope = ?"
                " ORDER BY changed_at LIMIT ?",
                (scope.key, limit),
            )
            out.extend(PendingLevel(r[0], scope, r[1], r[2]) for r in rows)
        out.sort(key=lambda p: p.changed_at)
        return out[:limit]

    def clear_level(self, user_id: str, scope: Scope, changed_at: float) -> bool:
        return (
            self._db.run(
                "DELETE FROM xp_level_pending WHERE scope = ? AND user_id = ? AND changed_at = ?",
                (scope.key, user_id, changed_at),
            )
            > 0
        )

    def get_settings(self, scope: Scope) -> dict[str, Any]:
        text = self._db.value("SELECT settings FROM xp_settings WHERE scope = ?", (scope.key,))
        return {} if text is None else dict(json.loads(text))

    def set_settings(self, scope: Scope, values: Mapping[str, Any], now: datetime) -> None:
        self._db.run(
            "INSERT INTO xp_settings (scope, settings, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (scope) DO UPDATE SET settings = excluded.settings,"
            " updated_at = excluded.updated_at",
            (scope.key, json.dumps(dict(values), sort_keys=True), SQLITE.time(now)),
        )

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def member_totals(self, user_id: str) -> list[tuple[str, int]]:
        rows = self._db.all("SELECT scope, xp FROM xp WHERE user_id = ? ORDER BY scope", (user_id,))
        return [(row[0], row[1]) for row in rows]

    def erase_member(self, user_id: str, scope: str) -> int:
        where = "WHERE scope = ? AND user_id = ?"
        self._db.run(f"DELETE FROM xp_level_pending {where}", (scope, user_id))
        return self._db.run(f"DELETE FROM xp {where}", (scope, user_id))
