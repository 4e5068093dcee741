"""The moderation service: admin and moderator operations run from Discord, each checked
against the guild's roles first and recorded with the moderator's id.

XP grants and balance changes go through the XP and bank services (the bank's ledger keeps
the reason; a governance event keeps who did it); an ingest stores the moderator as the
document's user and emits a governance event. Nothing here knows about Discord: the bot
passes plain values (an `Actor`, an `Upload`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.clock import Clock
from core.config import DiscordSettings
from core.errors import AttachmentRefused, InvalidInput
from core.ids import check_id
from core.moderation.access import Actor, GuildAccess, Level, require
from core.moderation.repository import GuildSettingsRepository
from core.moderation.uploads import PrivateDir, Upload, check_upload, download
from core.scope import Scope
from core.telemetry.governance import Governance

if TYPE_CHECKING:
    from core.economy.bank import BankService
    from core.economy.repository import Transfer, XpChange, XpGuildSettings
    from core.economy.xp import XpService
    from core.rag.ingestion import IngestedDocument
    from core.rag.repository import DocumentRecord
    from core.rag.service import RagService

SETTING_KEYS = ("admin_role_ids", "moderator_role_ids")
MAX_ROLES = 250  # Discord's own cap on roles per guild
UPLOAD_SOURCE = "discord:"  # prefix of the source of every document ingested from Discord


@dataclass(frozen=True)
class BotStatus:
    """What `/abby status` shows moderators."""

    uptime_seconds: float
    latency_ms: float | None  # None before the gateway answered a heartbeat
    backend: str
    schema: dict[str, int]
    counts: dict[str, int]
    last_heartbeat: str | None  # ISO time of the last heartbeat event, None before the first


def parse_setting(key: str, text: str) -> tuple[str, ...] | None:
    """Turn an operator's VALUE for `key` into role ids ("default" = back to config)."""
    if key not in SETTING_KEYS:
        raise InvalidInput(f"unknown bot setting {key!r}; settings: {', '.join(SETTING_KEYS)}")
    text = text.strip()
    if text.lower() == "default":
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    return _role_ids(items, key)


def _role_ids(items: Iterable[object], key: str) -> tuple[str, ...]:
    ids = []
    for item in items:
        text = str(item)
        if isinstance(item, bool) or not text.isdigit() or len(text) > 20:
            raise InvalidInput(f"{key}: {text[:40]!r} is not a Discord role id (digits only)")
        ids.append(text)
    if len(ids) > MAX_ROLES:
        raise InvalidInput(f"{key}: at most {MAX_ROLES} roles")
    return tuple(dict.fromkeys(ids))


class ModerationService:
    def __init__(
        self,
        *,
        repo: GuildSettingsRepository,
        settings: DiscordSettings,
        clock: Clock,
        xp: Callable[[], XpService],
        bank: Callable[[], BankService],
        rag: Callable[[], RagService],
        events: Governance | None = None,
        db_status: Callable[[], Mapping[str, Any]] | None = None,
        last_heartbeat: Callable[[], str | None] | None = None,
    ) -> None:
        # The other services open lazily: a permission refusal never opens Chroma or the bank.
        self._repo = repo
        self._settings = settings
        self._clock = clock
        self._xp, self._bank, self._rag = xp, bank, rag
        self._events = events or Governance()
        self._db_status = db_status
        # The ISO time of the last heartbeat event, read from the event log by the caller.
        self._last_heartbeat = last_heartbeat

    # --- the permission model -------------------------------------------------------------

    def access(self, guild_id: str) -> GuildAccess:
        """A guild's admin and moderator roles: config, overridden by what was stored."""
        guild_id = check_id(guild_id, "guild id")
        stored = self._repo.get(guild_id)
        values = {
            "admin_role_ids": self._settings.admin_role_ids.get(guild_id, ()),
            "moderator_role_ids": self._settings.moderator_role_ids.get(guild_id, ()),
        }
        values.update({k: tuple(v) for k, v in stored.items() if k in SETTING_KEYS})
        return GuildAccess(guild_id=guild_id, **values)

    def update_access(
        self, changes: Mapping[str, Iterable[str] | None], *, guild_id: str
    ) -> GuildAccess:
        """Store a guild's role lists (None = back to config's); returns the result."""
        guild_id = check_id(guild_id, "guild id")
        stored = dict(self._repo.get(guild_id))
        for key, value in changes.items():
            if key not in SETTING_KEYS:
                raise InvalidInput(f"unknown bot setting {key!r}")
            if value is None:
                stored.pop(key, None)
            else:
                stored[key] = list(_role_ids(value, key))
        self._repo.put(guild_id, stored, self._clock.now())
        self._events.record("bot_settings_changed", {"guild_id": guild_id, "keys": sorted(changes)})
        return self.access(guild_id)

    def require(self, actor: Actor, need: Level) -> Level:
        """The actor's level, or NotPermitted (nothing is read or changed beyond the roles)."""
        access = None if actor.guild_id is None else self.access(actor.guild_id)
        return require(need, access, actor)

    # --- XP ------------------------------------------------------------------------------

    def grant_xp(
        self, actor: Actor, user_id: str, amount: int, *, reason: str | None = None
    ) -> XpChange:
        """Add (or, negative, remove) a member's XP as a moderator."""
        self.require(actor, Level.MODERATOR)
        return self._xp().add(
            user_id, amount, guild_id=actor.guild_id, reason=reason, actor_id=actor.user_id
        )

    def xp_settings(
        self,
        actor: Actor,
        changes: Mapping[str, Any],
        *,
        ignore: Mapping[str, Iterable[str]] | None = None,
        unignore: Mapping[str, Iterable[str]] | None = None,
    ) -> XpGuildSettings:
        """Show (no changes) or change the guild's XP rules as an admin.

        `ignore` / `unignore` add ids to or take them from "ignored_channels" and
        "ignored_roles" (the listener then grants no XP there)."""
        self.require(actor, Level.ADMIN)
        service = self._xp()
        changes = dict(changes)
        current = service.settings_for(actor.guild_id)
        for key in {*(ignore or {}), *(unignore or {})}:
            if key not in ("ignored_channels", "ignored_roles"):
                raise InvalidInput(f"only ignored_channels and ignored_roles take ids, not {key}")
            ids = dict.fromkeys(changes.get(key, getattr(current, key)))
            ids.update(dict.fromkeys(str(i) for i in (ignore or {}).get(key, ())))
            for item in (unignore or {}).get(key, ()):
                ids.pop(str(item), None)
            changes[key] = list(ids)
        if not changes:
            return current
        changed = service.update_settings(changes, guild_id=actor.guild_id)
        self._events.record(
            "xp_settings_by",
            {"guild_id": actor.guild_id, "actor_id": actor.user_id, "keys": sorted(changes)},
        )
        return changed

    def level_rewards(
        self,
        actor: Actor,
        *,
        add: tuple[int, str] | None = None,
        remove: int | None = None,
    ) -> XpGuildSettings:
        """Show (neither given), add (level, role id) or remove (level) the guild's level
        role rewards as an admin; UnknownReward when removing a level without one."""
        self.require(actor, Level.ADMIN)
        rewards = self._xp().rewards
        assert actor.guild_id is not None  # require() refuses a DM
        if add is not None:
            rules = rewards.add_reward(actor.guild_id, *add)
        elif remove is not None:
            rules = rewards.remove_reward(actor.guild_id, remove)
        else:
            return rewards.rewards(actor.guild_id)
        self._events.record(
            "xp_rewards_by",
            {
                "guild_id": actor.guild_id,
                "actor_id": actor.user_id,
                "added": list(add) if add else None,
                "removed": remove,
            },
        )
        return rules

    # --- bank ----------------------------------------------------------------------------

    def adjust_balance(
        self,
        actor: Actor,
        user_id: str,
        amount: int,
        *,
        reason: str,
        idempotency_key: str | None = None,
        is_bot: bool = False,
    ) -> Transfer:
        """Mint (positive) or burn (negative) currency through the ledger as an admin.

        `is_bot`: the account is a bot's; minting to it raises RecipientIsBot."""
        self.require(actor, Level.ADMIN)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("give a reason: it is kept in the ledger")
        return self._bank().add(
            user_id,
            amount,
            reason=reason.strip(),
            guild_id=actor.guild_id,
            idempotency_key=idempotency_key,
            actor_id=actor.user_id,
            payee_is_bot=is_bot,
        )

    # --- knowledge base ------------------------------------------------------------------

    def check_upload(self, actor: Actor, upload: Upload, *, max_bytes: int) -> str:
        """Refuse an actor or an attachment before any download; return the safe name."""
        self.require(actor, Level.MODERATOR)
        return check_upload(upload, max_bytes=max_bytes)

    async def ingest_upload(
        self, actor: Actor, upload: Upload, *, max_bytes: int, timeout: float
    ) -> IngestedDocument:
        """Check, download and ingest one attachment into the actor's guild.

        Raises NotPermitted, AttachmentRefused (type, empty, too large, no text, a redirect to
        another host) before anything is stored, ServiceUnavailable when the file cannot be
        fetched. Re-uploading a file of the same name replaces that document.
        """
        name = await asyncio.to_thread(self.check_upload, actor, upload, max_bytes=max_bytes)
        with PrivateDir() as folder:
            path = folder / name
            await download(upload.url, path, max_bytes=max_bytes, timeout=timeout)
            return await asyncio.to_thread(self._ingest_file, actor, path, max_bytes)

    def _ingest_file(self, actor: Actor, path: Path, max_bytes: int) -> IngestedDocument:
        import core.rag.loaders as loaders  # not the core.rag facade: it reaches core.context

        rag = self._rag()
        settings = rag.settings
        budget = loaders.PdfBudget(
            max_pages=settings.max_pdf_pages,
            seconds=settings.pdf_timeout_seconds,
            max_decompressed=settings.max_pdf_decompressed_bytes,
        )
        try:
            loaded = loaders.parse(path, loaders.read_bytes(path, max_bytes), budget)
        except loaders.Skip as skip:
            raise AttachmentRefused(f"the file cannot be ingested: {skip.reason}") from None
        document = rag.ingest_text(
            UPLOAD_SOURCE + path.name,
            loaded.title,
            loaded.text,
            user_id=actor.user_id,
            guild_id=actor.guild_id,
            tags=("discord",),
        )
        self._events.record(
            "kb_ingest",
            {
                "guild_id": actor.guild_id,
                "actor_id": actor.user_id,
                "doc_id": document.doc_id,
                "status": document.status,
                "chunks": document.chunks,
            },
        )
        return document

    def documents(self, actor: Actor) -> list[DocumentRecord]:
        """The guild's own documents (not the global ones, which only operators manage)."""
        self.require(actor, Level.MODERATOR)
        return [
            r for r in self._rag().list(Scope.of(actor.guild_id)) if r.guild_id == actor.guild_id
        ]

    def delete_document(self, actor: Actor, doc_id: str) -> DocumentRecord:
        """Delete one of the guild's own documents; another scope's is UnknownDocument."""
        self.require(actor, Level.MODERATOR)
        record = self._rag().delete(doc_id, guild_id=actor.guild_id)
        self._events.record(
            "kb_delete",
            {"guild_id": actor.guild_id, "actor_id": actor.user_id, "doc_id": record.doc_id},
        )
        return record

    # --- status --------------------------------------------------------------------------

    def status(self, actor: Actor, *, uptime_seconds: float, latency: float) -> BotStatus:
        """Uptime, gateway latency, backend, schema, record counts and the last heartbeat."""
        self.require(actor, Level.MODERATOR)
        db = dict(self._db_status() if self._db_status else {})
        last = self._last_heartbeat() if self._last_heartbeat else None
        return BotStatus(
            uptime_seconds=round(max(uptime_seconds, 0.0), 1),
            latency_ms=round(latency * 1000, 1) if math.isfinite(latency) else None,
            backend=str(db.get("backend", "?")),
            schema=dict(db.get("schema") or {}),
            counts=dict(db.get("tables") or {}),
            last_heartbeat=last,
        )
