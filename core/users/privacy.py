"""A member's data: everything Abby holds about one member, to show them or to erase it.

`export` gathers the profile, XP, balances and ledger, sessions (decrypted), file records,
documents they ingested and today's quota use into one JSON-able document. `forget` erases the
profile, XP, sessions and stored files; the ledger keeps its rows, so the books still balance,
with the member's id replaced by a pseudonym: an HMAC of the id under a key kept in the data
dir, so the same member always gets the same pseudonym and it cannot be turned back into the
id without that key.

Each erasure phase is idempotent and ordered so that what identifies the member goes last; a
rerun after a crash (even SIGKILL) finds what is left and finishes. The governance event
(counts and the pseudonym, never the id) is written before the profile goes, so a crash can
duplicate it but never lose it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ExportOnCooldown, UnknownUser
from core.ids import check_id
from core.jsonable import to_jsonable
from core.scope import Scope
from core.telemetry.governance import Governance

if TYPE_CHECKING:
    from core.economy.repository import BankRepository, LedgerEntry, XpRepository
    from core.rag.repository import DocumentRepository
    from core.sessions.repository import SessionRecord, SessionRepository
    from core.sessions.service import SessionService
    from core.storage import StorageManager
    from core.storage.repository import DailyCounterRepository, FileRecord
    from core.users.repository import UserRepository

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1
PSEUDONYM_PREFIX = "forgotten-"
# The phases of an erasure, in the order they run (also the CLI's dry-run listing).
PHASES = ("files", "sessions", "xp", "ledger", "event", "profile")


@dataclass(frozen=True)
class ForgetReport:
    """What an erasure did (or, with dry_run, would do)."""

    pseudonym: str
    guild_id: str | None
    all_scopes: bool
    dry_run: bool
    scopes: list[str | None]
    files: int = 0
    file_bytes: int = 0
    sessions: int = 0
    messages: int = 0
    xp_records: int = 0
    ledger_rows: int = 0
    profiles: int = 0
    already_forgotten: bool = False
    phases: tuple[str, ...] = field(default=PHASES)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PseudonymKey:
    """The HMAC key behind pseudonyms, a 0600 file created once (race-free across processes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> bytes:
        try:
            return bytes.fromhex(self.path.read_text("ascii").strip())
        except FileNotFoundError:
            pass
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # link() refuses an existing name: the first process to publish its key wins and
            # every other one reads that key, so a member never gets two pseudonyms.
            os.link(temp, self.path)
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)
        return bytes.fromhex(self.path.read_text("ascii").strip())

    def pseudonym(self, user_id: str) -> str:
        digest = hmac.new(self.load(), user_id.encode("utf-8"), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:32]


class MemberData:
    """Export and erasure of one member's data across every domain."""

    def __init__(
        self,
        *,
        users: UserRepository,
        xp: XpRepository,
        bank: BankRepository,
        sessions: SessionService,
        session_repo: SessionRepository,
        storage: StorageManager,
        daily: DailyCounterRepository,
        documents: Callable[[], DocumentRepository],
        key: PseudonymKey,
        events: Governance = Governance(),
        now: Callable[[], datetime],
        export_cooldown_seconds: float = 0,
    ) -> None:
        self._users = users
        self._xp = xp
        self._bank = bank
        self._sessions = sessions
        self._session_repo = session_repo
        self._storage = storage
        self._daily = daily
        self._documents = documents
        self._key = key
        self._events = events
        self._now = now
        self._export_cooldown = export_cooldown_seconds

    # --- what is held -----------------------------------------------------------------------

    def _scopes(self, user_id: str, scope: Scope) -> list[str]:
        """The stored scope keys where the member has a profile, XP, an account, a session or
        a file (only the asked one unless `scope` is every scope)."""
        found = {Scope.of(p.guild_id).key for p in self._users.member_profiles(user_id)}
        found |= {key for key, _ in self._xp.member_totals(user_id)}
        found |= {key for key, _ in self._bank.member_balances(user_id)}
        found |= {Scope.of(r.guild_id).key for r in self._session_list(user_id, Scope.EVERY)}
        found |= {Scope.of(r.guild_id).key for r in self._files(user_id)}
        if not scope.is_every:
            found &= {scope.key}
        return sorted(found)

    def _session_list(self, user_id: str, scope: Scope) -> list[SessionRecord]:
        return self._sessions.list(user_id=user_id, scope=scope, limit=10_000)

    def _ledger(self, user_id: str, key: str) -> list[LedgerEntry]:
        return self._bank.history(user_id, Scope.from_key(key), 10**9)

    def _files(self, user_id: str) -> list[FileRecord]:
        return self._storage.files(user_id, Scope.EVERY, limit=1_000_000)

    # --- export -----------------------------------------------------------------------------

    def export(
        self,
        user_id: str,
        *,
        scope: Scope = Scope.EVERY,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Everything held about one member as one JSON-able document.

        Raises UnknownUser (exit 3) when nothing is held. Records a governance event.
        """
        user_id = check_id(user_id, "user id")
        scopes = self._scopes(user_id, scope)
        if not scopes:
            raise UnknownUser(f"nothing is held about user {user_id}{_where(scope)}")
        wanted = set(scopes)
        profiles = [
            p for p in self._users.member_profiles(user_id) if Scope.of(p.guild_id).key in wanted
        ]
        xp = [(s, v) for s, v in self._xp.member_totals(user_id) if s in wanted]
        balances = [(s, v) for s, v in self._bank.member_balances(user_id) if s in wanted]
        sessions = []
        for record in self._session_list(user_id, scope):
            messages = self._sessions.history(record.session_id, limit=1_000_000)
            sessions.append({**asdict(record), "messages": [asdict(m) for m in messages]})
        files = [
            self._storage.to_dict(f)
            for f in self._files(user_id)
            if Scope.of(f.guild_id).key in wanted
        ]
        documents = [
            asdict(d) for d in self._documents().find(user_id=user_id) if d.scope in wanted
        ]
        document = {
            "format": EXPORT_FORMAT,
            "user_id": user_id,
            "exported_at": self._now(),
            "scopes": [Scope.from_key(s).guild_id for s in scopes],
            "profiles": [asdict(p) for p in profiles],
            "xp": [{"guild_id": Scope.from_key(s).guild_id, "xp": v} for s, v in xp],
            "bank": [
                {
                    "guild_id": Scope.from_key(s).guild_id,
                    "balance": v,
                    "ledger": [asdict(e) for e in self._ledger(user_id, s)],
                }
                for s, v in balances
            ],
            "sessions": sessions,
            "files": files,
            "documents": documents,
            "quota": {
                "generations_today": self._daily.used(user_id, self._now().date().isoformat()),
                "stored_bytes": sum(f["bytes"] for f in files),
                "stored_files": len(files),
            },
        }
        self._events.record(
            "privacy.export",
            {
                "actor": actor or "unknown",
                "pseudonym": self._key.pseudonym(user_id),
                "sessions": len(sessions),
                "files": len(files),
            },
        )
        return document

    def export_own(self, user_id: str, *, actor: str | None = None) -> dict[str, Any]:
        """A member's export of their own data, every scope, at most once per
        `privacy.export_cooldown_seconds` (held in the database, so every bot process and a
        restart see it). Raises ExportOnCooldown with `next_at`, or what `export` raises (the
        claim is then given back, so a member with nothing held may ask again).
        """
        user_id = check_id(user_id, "user id")
        now = self._now()
        stamp = now.timestamp()
        window = self._export_cooldown
        if window > 0:
            last = self._users.claim_export(user_id, stamp, stamp - window)
            if last is not None:
                next_at = datetime.fromtimestamp(last + window, UTC)
                raise ExportOnCooldown(
                    f"you can export your data once every {_span(window)};"
                    f" the next export opens at {next_at:%Y-%m-%d %H:%M} UTC",
                    next_at=next_at,
                    retry_after=max(1, int(last + window - stamp)),
                )
        try:
            return self.export(user_id, scope=Scope.EVERY, actor=actor)
        except BaseException:
            if window > 0:
                self._users.drop_export(user_id, stamp)
            raise

    # --- erasure ----------------------------------------------------------------------------

    def forget(
        self,
        user_id: str,
        *,
        scope: Scope = Scope.EVERY,
        dry_run: bool = False,
        actor: str | None = None,
        on_phase: Callable[[str], None] | None = None,
    ) -> ForgetReport:
        """Erase a member's profile, XP, sessions and files; pseudonymise their ledger.

        Idempotent and crash-safe: a rerun finishes an interrupted erasure. Raises UnknownUser
        when nothing is held under the id and no ledger carries the pseudonym; a member
        already forgotten gets a report with `already_forgotten` set.
        """
        user_id = check_id(user_id, "user id")
        pseudonym = self._key.pseudonym(user_id)
        scopes = self._scopes(user_id, scope)
        base = ForgetReport(
            pseudonym=pseudonym,
            guild_id=None if scope.is_every else scope.guild_id,
            all_scopes=scope.is_every,
            dry_run=dry_run,
            scopes=[Scope.from_key(s).guild_id for s in scopes],
        )
        if not scopes:
            if any(
                scope.is_every or key == scope.key
                for key, _ in self._bank.member_balances(pseudonym)
            ):
                return replace(base, already_forgotten=True)
            raise UnknownUser(f"nothing is held about user {user_id}{_where(scope)}")
        wanted = set(scopes)
        files = [f for f in self._files(user_id) if Scope.of(f.guild_id).key in wanted]
        step = on_phase or (lambda _phase: None)
        if dry_run:
            sessions = [
                r for r in self._session_list(user_id, scope) if Scope.of(r.guild_id).key in wanted
            ]
            return replace(
                base,
                files=len(files),
                file_bytes=sum(f.bytes for f in files),
                sessions=len(sessions),
                messages=sum(r.turns for r in sessions),
                xp_records=sum(1 for s, _ in self._xp.member_totals(user_id) if s in wanted),
                ledger_rows=sum(len(self._ledger(user_id, s)) for s in scopes),
                profiles=sum(
                    1
                    for p in self._users.member_profiles(user_id)
                    if Scope.of(p.guild_id).key in wanted
                ),
            )
        counts = dict.fromkeys(
            (
                "files",
                "file_bytes",
                "sessions",
                "messages",
                "xp_records",
                "ledger_rows",
                "profiles",
            ),
            0,
        )
        step("files")
        for file in files:
            # Record first, then the file (StorageManager.remove): a crash between leaves an
            # unrecorded file, which `abby storage cleanup` removes as an orphan.
            self._storage.remove(file.file_id)
            counts["files"] += 1
            counts["file_bytes"] += file.bytes
        step("sessions")
        # The xp and bank repositories take stored scope keys (their own interfaces); the
        # users and sessions ones take a Scope.
        for key in scopes:
            erased_sessions, erased_messages = self._session_repo.erase_member(
                user_id, Scope.from_key(key)
            )
            counts["sessions"] += erased_sessions
            counts["messages"] += erased_messages
        step("xp")
        for key in scopes:
            counts["xp_records"] += self._xp.erase_member(user_id, key)
        step("ledger")
        for key in scopes:
            counts["ledger_rows"] += self._bank.pseudonymise_member(user_id, key, pseudonym)
        step("event")
        self._events.record(
            "privacy.forget",
            {"actor": actor or "unknown", "pseudonym": pseudonym, "scopes": len(scopes), **counts},
        )
        step("profile")
        if scope.is_every:
            # When they last exported names them too; before the profiles, which a rerun
            # needs to find the member at all.
            self._users.drop_export(user_id)
        for key in scopes:
            counts["profiles"] += self._users.erase_member(user_id, Scope.from_key(key))
        log.info("forgot a member in %d scope(s) as %s", len(scopes), pseudonym)
        return replace(
            base,
            files=counts["files"],
            file_bytes=counts["file_bytes"],
            sessions=counts["sessions"],
            messages=counts["messages"],
            xp_records=counts["xp_records"],
            ledger_rows=counts["ledger_rows"],
            profiles=counts["profiles"],
        )


def export_json(document: dict[str, Any]) -> bytes:
    """An export as the file a member receives (UTF-8 JSON, indented, one trailing newline):
    the same bytes whether the CLI writes it or the bot sends it."""
    text = json.dumps(to_jsonable(document), ensure_ascii=False, indent=2)
    return (text + "\n").encode("utf-8")


def _span(seconds: float) -> str:
    if seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return "hour" if hours == 1 else f"{hours} hours"
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds:g} seconds"


def _where(scope: Scope) -> str:
    """'', ' in the global scope' or ' in guild 123', as the messages read."""
    if scope.is_every:
        return ""
    return f" in {scope.display}"
