"""The session service: a user's exchange with the bot in one channel, encrypted at rest.

A session belongs to (user, guild, channel) and is `active` until it is closed, or expired
after `sessions.idle_minutes` without a message (checked lazily on access and by the sweep that
`list` and `purge` run). Message contents and the summary are encrypted with the key ring's
primary key and stored with its key id; the repository never sees plaintext.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.clock import Clock
from core.errors import (
    InvalidInput,
    SessionClosed,
    Undecryptable,
    UnknownKey,
    UnknownSession,
)
from core.ids import check_id
from core.scope import Scope
from core.security.crypto import to_plaintext, to_text
from core.security.keyring import KeyRing
from core.sessions.repository import (
    STATUSES,
    NewMessage,
    PurgeCounts,
    SessionRecord,
    SessionRepository,
)
from core.telemetry.governance import Governance

if TYPE_CHECKING:
    from core.config import SessionSettings

ROLES = ("user", "assistant", "system", "tool")
MAX_CONTENT_BYTES = 256 * 1024
PURGE_BATCH = 500


@dataclass(frozen=True)
class TranscriptMessage:
    seq: int
    role: str
    content: str | None  # None when it could not be decrypted
    at: datetime
    error: str | None = None  # why it could not be decrypted


@dataclass(frozen=True)
class Transcript:
    session: SessionRecord
    summary: str | None
    summary_error: str | None
    messages: list[TranscriptMessage]

    @property
    def undecryptable(self) -> list[int]:
        """Seqs of the messages that could not be decrypted."""
        return [m.seq for m in self.messages if m.error is not None]


@dataclass(frozen=True)
class Conversation:
    """A member's active session in one channel with its latest messages, decrypted."""

    session: SessionRecord
    messages: list[TranscriptMessage]


@dataclass(frozen=True)
class PurgeReport:
    ended_before: datetime
    dry_run: bool
    expired_now: int
    sessions: int
    messages: int


class SessionService:
    def __init__(
        self,
        *,
        repo: SessionRepository,
        keys: Callable[[], KeyRing],
        settings: SessionSettings,
        clock: Clock,
        events: Governance = Governance(),
        key_guard: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        self._repo = repo
        self._keys = keys
        # Held from choosing the key to storing the ciphertext (KeyService.writing), so a
        # concurrent `keys retire` never removes a key a message is about to be stored under.
        self._key_guard = key_guard or nullcontext
        self._settings = settings
        self._clock = clock
        self._events = events

    # --- writing --------------------------------------------------------------------------

    def create(self, user_id: str, channel_id: str, guild_id: str | None = None) -> str:
        """Open an active session; return its id. MissingKey when no key is configured."""
        user_id = check_id(user_id, "user id")
        channel_id = check_id(channel_id, "channel id")
        scope = Scope.of(guild_id)
        self._keys()  # fail now, not at the first message, when there is no key
        session_id = uuid.uuid4().hex
        self._repo.create(session_id, user_id, scope, channel_id, self._clock.now())
        return session_id

    def take_turn(self, user_id: str, guild_id: str | None, limit: int) -> bool:
        """Count one question of the member this UTC minute; False when `limit` were
        already asked in it. One guarded write, shared by every process."""
        minute = self._clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
        scope = Scope.of(guild_id)
        return self._repo.take_turn(check_id(user_id, "user id"), scope, minute, limit) is not None

    def require_key(self) -> None:
        """MissingKey unless a message could be encrypted now (check before paying for one)."""
        self._keys()

    def record_exchange(
        self,
        session_id: str | None,
        user_id: str,
        channel_id: str,
        guild_id: str | None,
        messages: Sequence[tuple[str, str | bytes]],
    ) -> tuple[str, bool]:
        """Append messages to `session_id` in one write, or open a session holding them when
        it is None or was closed meanwhile; return (session id, whether it is new)."""
        if session_id is not None:
            try:
                self.append_many(session_id, messages)
                return session_id, False
            except (SessionClosed, UnknownSession):
                pass  # closed, expired or purged since it was looked up: start a new one
        user_id = check_id(user_id, "user id")
        channel_id = check_id(channel_id, "channel id")
        scope = Scope.of(guild_id)
        with self._key_guard():
            rows = self._encrypt(messages)
            session_id = uuid.uuid4().hex
            self._repo.create(session_id, user_id, scope, channel_id, self._clock.now(), rows)
        return session_id, True

    def append(self, session_id: str, role: str, content: str | bytes) -> int:
        """Encrypt and append one message; return its seq."""
        return self.append_many(session_id, [(role, content)])

    def append_many(self, session_id: str, messages: Iterable[tuple[str, str | bytes]]) -> int:
        """Encrypt and append messages in one atomic write; return the last seq.

        Raises UnknownSession, SessionClosed (closed, expired, or idle too long), InvalidInput
        for a bad role or content, MissingKey when no key is configured.
        """
        session_id = _session_id(session_id)
        with self._key_guard():
            return self._append_many(session_id, messages)

    def _append_many(self, session_id: str, messages: Iterable[tuple[str, str | bytes]]) -> int:
        rows = self._encrypt(messages)
        now = self._clock.now()
        last = self._repo.append(session_id, rows, now, self._idle_cutoff(now))
        if last is None:
            self._refuse_append(session_id, now)
        return last  # type: ignore[return-value]

    def _encrypt(self, messages: Iterable[tuple[str, str | bytes]]) -> list[NewMessage]:
        ring = self._keys()
        rows: list[NewMessage] = []
        for role, content in messages:
            if role not in ROLES:
                raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
            plaintext = to_plaintext(content, "message content")
            if len(plaintext) > MAX_CONTENT_BYTES:
                raise InvalidInput(f"message content is over {MAX_CONTENT_BYTES} bytes")
            key_id, token = ring.encrypt(plaintext)
            rows.append(NewMessage(role, token, key_id))
        if not rows:
            raise InvalidInput("no messages to append")
        return rows

    def _refuse_append(self, session_id: str, now: datetime) -> None:
        record = self._repo.get(session_id)
        if record is None:
            raise UnknownSession(f"no session {session_id}")
        if record.status == "active":
            self._repo.expire_idle(self._idle_cutoff(now), now, session_id)
            raise SessionClosed(
                f"session {session_id} expired after {self._settings.idle_minutes} idle minutes"
            )
        raise SessionClosed(f"session {session_id} is {record.status}; start a new one")

    def close(
        self, session_id: str, summary: str | None = None, *, dry_run: bool = False
    ) -> SessionRecord:
        """Close a session (active or expired) with an optional summary, encrypted.

        Raises UnknownSession, SessionClosed when it is already closed (also with dry_run,
        which makes those checks, returns the session as it is, and changes nothing).
        """
        session_id = _session_id(session_id)
        if dry_run:
            record = self.require(session_id)
            if record.status == "closed":
                raise SessionClosed(f"session {session_id} is already closed")
            if summary is not None:
                to_plaintext(summary, "summary")  # the same check a real close makes
            return record
        stored: NewMessage | None = None
        with self._key_guard():
            if summary is not None:
                key_id, token = self._keys().encrypt(to_plaintext(summary, "summary"))
                stored = NewMessage("summary", token, key_id)
            closed = self._repo.close(session_id, stored, self._clock.now())
        if not closed:
            if self._repo.get(session_id) is None:
                raise UnknownSession(f"no session {session_id}")
            raise SessionClosed(f"session {session_id} is already closed")
        return self.require(session_id)

    # --- reading --------------------------------------------------------------------------

    def require(self, session_id: str) -> SessionRecord:
        """The session's metadata (expiring it first when idle); UnknownSession when none."""
        session_id = _session_id(session_id)
        record = self._repo.get(session_id)
        if record is None:
            raise UnknownSession(f"no session {session_id}")
        if record.status == "active":
            now = self._clock.now()
            if record.last_message_at <= self._idle_cutoff(now):
                self._repo.expire_idle(self._idle_cutoff(now), now, session_id)
                record = self._repo.get(session_id) or record
        return record

    def active(
        self, user_id: str, channel_id: str, guild_id: str | None = None, *, history: int = 0
    ) -> Conversation | None:
        """The user's live session in that guild and channel with its last `history`
        messages, in one indexed lookup; None when there is none (an idle one is not live).
        MissingKey when messages are asked for and no key is configured."""
        user_id = check_id(user_id, "user id")
        channel_id = check_id(channel_id, "channel id")
        ring = self._keys() if history > 0 else None
        found = self._repo.active(
            user_id, Scope.of(guild_id), channel_id, self._idle_cutoff(self._clock.now()), history
        )
        if found is None:
            return None
        record, stored = found
        messages = (
            [_message(ring, m.seq, m.role, m.token, m.key_id, m.at) for m in stored] if ring else []
        )
        return Conversation(record, messages)

    def list(
        self,
        *,
        user_id: str | None = None,
        scope: Scope = Scope.EVERY,
        status: str | None = None,
        limit: int = 50,
    ) -> list[SessionRecord]:
        """Session metadata in a scope (every scope by default), newest first (never content).
        Expires idle sessions first."""
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be 1-10000")
        self.sweep()
        return self._repo.list(
            user_id=None if user_id is None else check_id(user_id, "user id"),
            scope=scope,
            status=status,
            limit=limit,
        )

    def transcript(self, session_id: str, *, actor: str | None = None) -> Transcript:
        """Decrypt a session for an operator. A message that does not decrypt (tampered, or
        its key left the ring) is reported with its seq and reason; the rest still shows.
        Records a governance event (who, which session, counts)."""
        ring = self._keys()  # no key is a configuration error, whichever session is asked for
        record = self.require(session_id)
        messages = [
            _message(ring, m.seq, m.role, m.token, m.key_id, m.at)
            for m in self._repo.messages(record.session_id)
        ]
        summary = summary_error = None
        stored = self._repo.summary(record.session_id)
        if stored is not None:
            summary, summary_error = _open(ring, *stored)
        transcript = Transcript(record, summary, summary_error, messages)
        self._events.record(
            "sessions.dump",
            {
                "session_id": record.session_id,
                "message_count": len(messages),
                "undecryptable": len(transcript.undecryptable) + (1 if summary_error else 0),
            },
            actor=actor,
        )
        return transcript

    def history(self, session_id: str, limit: int) -> builtins.list[TranscriptMessage]:
        """The last `limit` messages, decrypted, for the bot's own conversation memory.

        Unlike `transcript` this is not an operator reading a user's conversation, so it
        records no governance event; messages that do not decrypt come back with `error` set.
        """
        ring = self._keys()
        record = self.require(session_id)
        stored = self._repo.messages(record.session_id)[-limit:] if limit > 0 else []
        return [_message(ring, m.seq, m.role, m.token, m.key_id, m.at) for m in stored]

    # --- housekeeping ---------------------------------------------------------------------

    def sweep(self) -> int:
        """Mark every idle active session expired; return how many."""
        now = self._clock.now()
        return self._repo.expire_idle(self._idle_cutoff(now), now)

    def purge(
        self,
        older_than: timedelta | None = None,
        *,
        dry_run: bool = False,
        actor: str | None = None,
    ) -> PurgeReport:
        """Delete closed and expired sessions that ended more than `older_than` ago (default:
        sessions.retention_days; 0 there keeps them forever), with their messages."""
        if older_than is None:
            if self._settings.retention_days == 0:
                raise InvalidInput(
                    "sessions.retention_days is 0 (keep forever); pass --older-than to purge"
                )
            older_than = timedelta(days=self._settings.retention_days)
        if older_than < timedelta(0):
            raise InvalidInput("older-than must not be negative")
        expired = 0 if dry_run else self.sweep()
        cutoff = self._clock.now() - older_than
        counts: PurgeCounts = self._repo.purge(cutoff, dry_run=dry_run, batch_size=PURGE_BATCH)
        report = PurgeReport(cutoff, dry_run, expired, counts.sessions, counts.messages)
        self._events.record(
            "sessions.purge",
            {
                "older_than_seconds": int(older_than.total_seconds()),
                "dry_run": dry_run,
                "session_count": counts.sessions,
                "message_count": counts.messages,
                "expired_now": expired,
            },
            actor=actor,
        )
        return report

    def _idle_cutoff(self, now: datetime) -> datetime:
        return now - timedelta(minutes=self._settings.idle_minutes)

    def encrypted_fields(self) -> Sequence[Any]:
        return self._repo.encrypted_fields()


def _session_id(value: object) -> str:
    return check_id(value, "session id")


def _open(ring: KeyRing, token: str, key_id: str) -> tuple[str | None, str | None]:
    """(plaintext, None) or (None, reason) — never raises for one bad record."""
    try:
        return to_text(ring.decrypt(token, key_id)), None
    except UnknownKey:
        return None, f"key {key_id} is not in the key ring"
    except Undecryptable as exc:
        return None, str(exc)


def _message(
    ring: KeyRing, seq: int, role: str, token: str, key_id: str, at: datetime
) -> TranscriptMessage:
    content, error = _open(ring, token, key_id)
    return TranscriptMessage(seq, role, content, at, error)
