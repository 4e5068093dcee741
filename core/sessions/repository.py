"""Conversation sessions: the records and the repository interface both backends implement.

A session row holds metadata and a turn counter; each message is its own row/document
(session_id, seq, role, ciphertext, key_id, at), so two processes appending at once never
rewrite a shared array, and rotation can walk the messages of one key id through an index.
The repository stores ciphertext only; encryption happens in the service.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.db.records import Field, Portable, Table
from core.scope import Scope
from core.security.rotation import EncryptedField

STATUSES = ("active", "closed", "expired")


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    user_id: str
    guild_id: str | None
    channel_id: str
    status: str
    turns: int
    created_at: datetime
    last_message_at: datetime
    closed_at: datetime | None
    has_summary: bool


@dataclass(frozen=True)
class StoredMessage:
    seq: int
    role: str
    token: str
    key_id: str
    at: datetime


@dataclass(frozen=True)
class NewMessage:
    role: str
    token: str
    key_id: str


@dataclass(frozen=True)
class PurgeCounts:
    sessions: int
    messages: int


class SessionRepository(Portable, ABC):
    """Sessions keyed by session id, each in one scope (a guild or the global scope)."""

    # Contents and summaries move as ciphertext with their key ids, never decrypted: the
    # target needs the same key ring.
    TABLES = (
        Table(
            "sessions",
            key=("session_id",),
            fields=(
                *(Field(name) for name in ("session_id", "user_id", "scope", "channel_id")),
                Field("status"),
                Field("turns", "int"),
                Field("created_at", "time"),
                Field("last_message_at", "time"),
                Field("closed_at", "time"),
                Field("summary"),
                Field("summary_key_id"),
            ),
            id_field="session_id",
        ),
        Table(
            "session_messages",
            key=("session_id", "seq"),
            fields=(
                Field("session_id"),
                Field("seq", "int"),
                *(Field(name) for name in ("role", "content", "key_id")),
                Field("at", "time"),
            ),
            mongo_id=lambda r: f"{r['session_id']}:{r['seq']:010d}",
        ),
    )

    @abstractmethod
    def create(
        self,
        session_id: str,
        user_id: str,
        scope: Scope,
        channel_id: str,
        now: datetime,
        messages: Sequence[NewMessage] = (),
    ) -> None:
        """Store a new active session, with its first messages (seq 1..n) in the same write."""

    @abstractmethod
    def active(
        self, user_id: str, scope: Scope, channel_id: str, idle_cutoff: datetime, history: int
    ) -> tuple[SessionRecord, list[StoredMessage]] | None:
        """The user's newest active session in that scope and channel with a message after
        `idle_cutoff`, with its last `history` messages (seq order), in one indexed lookup;
        None when there is none. Never expires anything: an idle session is just not found."""

    @abstractmethod
    def get(self, session_id: str) -> SessionRecord | None: ...

    @abstractmethod
    def take_turn(self, user_id: str, scope: Scope, minute: str, limit: int) -> int | None:
        """Count one question of the member in that UTC minute ("YYYY-MM-DDTHH:MM") if
        fewer than `limit` were asked in it; return the count, or None when the limit is
        reached. One atomic operation (the limit is in the write's guard); one row per
        member and scope, reset when the minute changes. Not exported: it only matters
        for a minute."""

    @abstractmethod
    def append(
        self, session_id: str, messages: Sequence[NewMessage], now: datetime, idle_cutoff: datetime
    ) -> int | None:
        """Atomically take the next seqs and store the messages, only while the session is
        active and had a message after `idle_cutoff`; return the last seq, or None when the
        guard refused (unknown, closed, expired or idle session) and nothing was written."""

    @abstractmethod
    def close(self, session_id: str, summary: NewMessage | None, now: datetime) -> bool:
        """Mark closed (from active or expired) with the encrypted summary; False when the
        session is unknown or already closed."""

    @abstractmethod
    def expire_idle(
        self, idle_cutoff: datetime, now: datetime, session_id: str | None = None
    ) -> int:
        """Mark active sessions with no message after `idle_cutoff` expired (one, or all)."""

    @abstractmethod
    def messages(self, session_id: str) -> list[StoredMessage]:
        """The session's messages in seq order (ciphertext)."""

    @abstractmethod
    def summary(self, session_id: str) -> tuple[str, str] | None:
        """(token, key id) of the summary, or None."""

    @abstractmethod
    def list(
        self, *, user_id: str | None, scope: Scope, status: str | None, limit: int
    ) -> list[SessionRecord]:
        """Newest first; a None filter and Scope.EVERY match everything."""

    @abstractmethod
    def purge(self, ended_before: datetime, *, dry_run: bool, batch_size: int) -> PurgeCounts:
        """Delete closed and expired sessions that ended before the cutoff, with their
        messages, in batches (messages first, so a crash leaves nothing orphaned)."""

    @abstractmethod
    def encrypted_fields(self) -> builtins.list[EncryptedField]:
        """Message contents and summaries, for key status and rotation."""

    # --- a member's data (core.users.privacy) ---------------------------------------------

    @abstractmethod
    def erase_member(self, user_id: str, scope: Scope) -> tuple[int, int]:
        """Delete the user's sessions in one scope with their messages (messages first, so
        a crash leaves no orphan); return (sessions, messages) deleted, (0, 0) on a rerun."""
