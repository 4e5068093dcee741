"""Sessions on SQLite: a `sessions` row per session, a `session_messages` row per message.

An append is one BEGIN IMMEDIATE transaction: the guarded `UPDATE ... RETURNING turns` takes
the seqs, and the inserts follow under the same write lock, so concurrent appends from two
processes get distinct seqs and nothing is lost. Timestamps are stored as fixed-width UTC ISO
strings (core.db.codec.stamp), so comparing them as text compares the instants.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.db._sqlite_records import SqlitePortable
from core.db.codec import SQLITE, STAMP_WIDTH, restamp, stamp, unstamp
from core.db.sqlite import Migration, SqliteDatabase
from core.scope import Scope
from core.security.rotation import EncryptedField, EncryptedRecord
from core.sessions.repository import (
    NewMessage,
    PurgeCounts,
    SessionRecord,
    SessionRepository,
    StoredMessage,
)


def _utc_stamps(conn: sqlite3.Connection) -> None:
    restamp("sessions", "created_at", "last_message_at", "closed_at")(conn)
    # session_messages has no rowid (restamp's key): rewrite by its primary key.
    rows = conn.execute(
        "SELECT session_id, seq, at FROM session_messages"
        " WHERE typeof(at) != 'text' OR length(at) != ? OR substr(at, -6) != '+00:00'",
        (STAMP_WIDTH,),
    ).fetchall()
    updates = []
    for session_id, seq, at in rows:
        moment = unstamp(at)
        if moment is not None:
            updates.append((stamp(moment), session_id, seq))
    conn.executemany("UPDATE session_messages SET at = ? WHERE session_id = ? AND seq = ?", updates)


MIGRATIONS = (
    Migration(
        "sessions_0001_create",
        """
        CREATE TABLE sessions (
            session_id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active', 'closed', 'expired')),
            turns INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            last_message_at TEXT NOT NULL,
            closed_at TEXT,
            summary TEXT,
            summary_key_id TEXT
        );
        CREATE INDEX sessions_status_last ON sessions (status, last_message_at);
        CREATE INDEX sessions_status_closed ON sessions (status, closed_at);
        CREATE INDEX sessions_user ON sessions (user_id, scope, created_at);
        CREATE INDEX sessions_created ON sessions (created_at);
        CREATE INDEX sessions_summary_key ON sessions (summary_key_id)
            WHERE summary_key_id IS NOT NULL;
        CREATE TABLE session_messages (
            session_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            key_id TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (session_id, seq)
        ) WITHOUT ROWID;
        CREATE INDEX session_messages_key ON session_messages (key_id, session_id, seq);
        """,
    ),
    # The conversation lookup (`active`): one member's live session in one channel is an
    # index seek, however many sessions the community has.
    Migration(
        "sessions_0002_active_lookup",
        "CREATE INDEX sessions_active"
        " ON sessions (user_id, scope, channel_id, status, last_message_at);",
    ),
    Migration(
        "sessions_0003_chat_turns",
        """
        CREATE TABLE chat_turns (
            user_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            minute TEXT NOT NULL,
            used INTEGER NOT NULL,
            PRIMARY KEY (user_id, scope)
        ) WITHOUT ROWID;
        """,
    ),
    # The service always wrote stamp() text, but a copy or restore wrote milliseconds: one
    # fixed-width form, so text comparisons against the idle and purge cutoffs are exact.
    Migration("sessions_0004_utc_stamps", _utc_stamps),
)
_TAKE_TURN = """
INSERT INTO chat_turns (user_id, scope, minute, used) VALUES (?, ?, ?, 1)
ON CONFLICT (user_id, scope) DO UPDATE SET
    used = CASE WHEN minute = excluded.minute THEN used + 1 ELSE 1 END,
    minute = excluded.minute
WHERE minute != excluded.minute OR used < ?
RETURNING used
"""

_APPEND_GUARD = """
UPDATE sessions SET turns = turns + ?, last_message_at = MAX(last_message_at, ?)
WHERE session_id = ? AND status = 'active' AND last_message_at > ?
RETURNING turns
"""
_INSERT_MESSAGES = (
    "INSERT INTO session_messages (session_id, seq, role, content, key_id, at) VALUES "
)
_ROWS_PER_INSERT = 100  # well under SQLite's bound-parameter limit (6 per row)
# The active session and its last messages in one statement: the messages are a primary-key
# range (seq > turns - history) of the one session the index finds.
_ACTIVE = """
WITH s AS (
    SELECT session_id, user_id, scope, channel_id, status, turns, created_at, last_message_at,
        closed_at, summary IS NOT NULL AS summary
    FROM sessions
    WHERE user_id = ? AND scope = ? AND channel_id = ? AND status = 'active'
        AND last_message_at > ?
    ORDER BY last_message_at DESC LIMIT 1
)
SELECT s.*, m.seq, m.role, m.content, m.key_id, m.at
FROM s LEFT JOIN session_messages m ON m.session_id = s.session_id AND m.seq > s.turns - ?
ORDER BY m.seq
"""


def _insert_messages(
    conn: sqlite3.Connection,
    session_id: str,
    first: int,
    messages: Sequence[NewMessage],
    at: str,
) -> None:
    """Multi-row INSERTs: one statement for a question and its answer, not one per row."""
    rows = [(session_id, first + i, m.role, m.token, m.key_id, at) for i, m in enumerate(messages)]
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        batch = rows[start : start + _ROWS_PER_INSERT]
        marks = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(batch))
        conn.execute(_INSERT_MESSAGES + marks, [value for row in batch for value in row])


def _record(row: sqlite3.Row) -> SessionRecord:
    return SQLITE.decode(SessionRecord, row, has_summary=bool(row["summary"]))


def _message(row: sqlite3.Row) -> StoredMessage:
    return SQLITE.decode(StoredMessage, row, token=row["content"])


_COLUMNS = (
    "session_id, user_id, scope, channel_id, status, turns, created_at, last_message_at,"
    " closed_at, summary IS NOT NULL AS summary"
)


class SqliteSessionRepository(SessionRepository, SqlitePortable):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    def create(
        self,
        session_id: str,
        user_id: str,
        scope: Scope,
        channel_id: str,
        now: datetime,
        messages: Sequence[NewMessage] = (),
    ) -> None:
        at = SQLITE.time(now)
        insert = (
            "INSERT INTO sessions (session_id, user_id, scope, channel_id, status, turns,"
            " created_at, last_message_at) VALUES (?, ?, ?, ?, 'active', ?, ?, ?)"
        )
        values = (session_id, user_id, scope.key, channel_id, len(messages), at, at)
        if not messages:
            self._db.run(insert, values)
            return
        with self._db.transaction() as conn:
            conn.execute(insert, values)
            _insert_messages(conn, session_id, 1, messages, at)

    def take_turn(self, user_id: str, scope: Scope, minute: str, limit: int) -> int | None:
        if limit <= 0:
            return None
        used = self._db.value(_TAKE_TURN, (user_id, scope.key, minute, limit))
        return None if used is None else int(used)

    def active(
        self, user_id: str, scope: Scope, channel_id: str, idle_cutoff: datetime, history: int
    ) -> tuple[SessionRecord, list[StoredMessage]] | None:
        rows = self._db.all(
            _ACTIVE, (user_id, scope.key, channel_id, SQLITE.time(idle_cutoff), max(0, history))
        )
        if not rows:
            return None
        return _record(rows[0]), [_message(r) for r in rows if r["seq"] is not None]

    def get(self, session_id: str) -> SessionRecord | None:
        row = self._db.one(f"SELECT {_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,))
        return None if row is None else _record(row)

    def append(
        self, session_id: str, messages: Sequence[NewMessage], now: datetime, idle_cutoff: datetime
    ) -> int | None:
        at = SQLITE.time(now)
        with self._db.transaction() as conn:
            row = conn.execute(
                _APPEND_GUARD, (len(messages), at, session_id, SQLITE.time(idle_cutoff))
            ).fetchone()
            if row is None:
                return None
            last = int(row[0])
            _insert_messages(conn, session_id, last - len(messages) + 1, messages, at)
        return last

    def close(self, session_id: str, summary: NewMessage | None, now: datetime) -> bool:
        token, key_id = (summary.token, summary.key_id) if summary else (None, None)
        changed = self._db.run(
            "UPDATE sessions SET status = 'closed', closed_at = ?, summary = ?,"
            " summary_key_id = ? WHERE session_id = ? AND status != 'closed'",
            (SQLITE.time(now), token, key_id, session_id),
        )
        return changed == 1

    def expire_idle(
        self, idle_cutoff: datetime, now: datetime, session_id: str | None = None
    ) -> int:
        sql = (
            "UPDATE sessions SET status = 'expired', closed_at = ?"
            " WHERE status = 'active' AND last_message_at <= ?"
        )
        params: list[Any] = [SQLITE.time(now), SQLITE.time(idle_cutoff)]
        if session_id is not None:
            sql += " AND session_id = ?"
            params.append(session_id)
        return self._db.run(sql, params)

    def messages(self, session_id: str) -> list[StoredMessage]:
        rows = self._db.all(
            "SELECT seq, role, content, key_id, at FROM session_messages"
            " WHERE session_id = ? ORDER BY seq",
            (session_id,),
        )
        return [_message(r) for r in rows]

    def summary(self, session_id: str) -> tuple[str, str] | None:
        row = self._db.one(
            "SELECT summary, summary_key_id FROM sessions WHERE session_id = ?", (session_id,)
        )
        if row is None or row["summary"] is None:
            return None
        return row["summary"], row["summary_key_id"]

    def list(
        self, *, user_id: str | None, scope: Scope, status: str | None, limit: int
    ) -> list[SessionRecord]:
        where, params = [], []
        key = None if scope.is_every else scope.key
        for column, value in (("user_id", user_id), ("scope", key), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.all(
            f"SELECT {_COLUMNS} FROM sessions{clause} ORDER BY created_at DESC, session_id LIMIT ?",
            (*params, limit),
        )
        return [_record(r) for r in rows]

    def purge(self, ended_before: datetime, *, dry_run: bool, batch_size: int) -> PurgeCounts:
        cutoff = SQLITE.time(ended_before)
        match = "status IN ('closed', 'expired') AND closed_at < ?"
        if dry_run:
            return PurgeCounts(
                int(self._db.value(f"SELECT COUNT(*) FROM sessions WHERE {match}", (cutoff,))),
                int(
                    self._db.value(
                        "SELECT COUNT(*) FROM session_messages WHERE session_id IN"
                        f" (SELECT session_id FROM sessions WHERE {match})",
                        (cutoff,),
                    )
                ),
            )
        sessions = messages = 0
        while True:
            with self._db.transaction() as tx:
                ids = [
                    r[0]
                    for r in tx.execute(
                        f"SELECT session_id FROM sessions WHERE {match} LIMIT ?",
                        (cutoff, batch_size),
                    )
                ]
                if not ids:
                    break
                marks = ",".join("?" * len(ids))
                messages += tx.execute(
                    f"DELETE FROM session_messages WHERE session_id IN ({marks})", ids
                ).rowcount
                sessions += tx.execute(
                    f"DELETE FROM sessions WHERE session_id IN ({marks})", ids
                ).rowcount
        return PurgeCounts(sessions, messages)

    def encrypted_fields(self) -> builtins.list[EncryptedField]:
        return [_MessageContents(self._db), _Summaries(self._db)]

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def erase_member(self, user_id: str, scope: Scope) -> tuple[int, int]:
        owned = "SELECT session_id FROM sessions WHERE user_id = ? AND scope = ?"
        key = (user_id, scope.key)
        with self._db.transaction() as conn:
            messages = conn.execute(
                f"DELETE FROM session_messages WHERE session_id IN ({owned})", key
            ).rowcount
            sessions = conn.execute(
                "DELETE FROM sessions WHERE user_id = ? AND scope = ?", key
            ).rowcount
            conn.execute("DELETE FROM chat_turns WHERE user_id = ? AND scope = ?", key)
        return sessions, messages


class _MessageContents(EncryptedField):
    name = "session_messages.content"

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def count_by_key(self) -> dict[str, int]:
        rows = self._db.all("SELECT key_id, COUNT(*) FROM session_messages GROUP BY key_id")
        return {r[0]: r[1] for r in rows}

    def scan(self, key_id: str, after: Any, limit: int) -> list[EncryptedRecord]:  # noqa: ANN401 - see EncryptedField
        session_id, seq = after if after is not None else ("", -1)
        rows = self._db.all(
            "SELECT session_id, seq, content FROM session_messages"
            " WHERE key_id = ? AND (session_id, seq) > (?, ?)"
            " ORDER BY session_id, seq LIMIT ?",
            (key_id, session_id, seq, limit),
        )
        return [EncryptedRecord((r[0], r[1]), key_id, r[2]) for r in rows]

    def replace(self, updates: Sequence[tuple[EncryptedRecord, str, str]]) -> int:
        with self._db.transaction() as conn:
            return conn.executemany(
                "UPDATE session_messages SET content = ?, key_id = ?"
                " WHERE session_id = ? AND seq = ? AND key_id = ?",
                [(token, new_id, r.ref[0], r.ref[1], r.key_id) for r, new_id, token in updates],
            ).rowcount


class _Summaries(EncryptedField):
    name = "sessions.summary"

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def count_by_key(self) -> dict[str, int]:
        rows = self._db.all(
            "SELECT summary_key_id, COUNT(*) FROM sessions"
            " WHERE summary_key_id IS NOT NULL GROUP BY summary_key_id"
        )
        return {r[0]: r[1] for r in rows}

    def scan(self, key_id: str, after: Any, limit: int) -> list[EncryptedRecord]:  # noqa: ANN401 - see EncryptedField
        rows = self._db.all(
            "SELECT session_id, summary FROM sessions"
            " WHERE summary_key_id = ? AND session_id > ? ORDER BY session_id LIMIT ?",
            (key_id, after or "", limit),
        )
        return [EncryptedRecord(r[0], key_id, r[1]) for r in rows]

    def replace(self, updates: Sequence[tuple[EncryptedRecord, str, str]]) -> int:
        with self._db.transaction() as conn:
            return conn.executemany(
                "UPDATE sessions SET summary = ?, summary_key_id = ?"
                " WHERE session_id = ? AND summary_key_id = ?",
                [(token, new_id, r.ref, r.key_id) for r, new_id, token in updates],
            ).rowcount
