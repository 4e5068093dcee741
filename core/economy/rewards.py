"""Level rewards: a role per level, the announcement template, and the pending level changes
the bot turns into role edits.

Rewards live in the guild's XP settings (`level_roles`, `remove_lower_roles`,
`announce_channel`, `announce_template`). Every XP change that moves a member's level leaves
a pending mark in the database (in the change's own transaction on SQLite), whatever made
it: a message, voice, `abby xp add` or an import. The bot reads the marks on a short loop,
brings the member's reward roles to what the level calls for (`plan`), and clears each mark
guarded by its time, so a mark written meanwhile survives and a bot restart loses nothing;
applying a plan twice changes nothing, because it compares with the roles the member has.
"""

from __future__ import annotations

import string
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.economy.repository import PendingLevel, XpGuildSettings, XpRepository
from core.errors import InvalidInput
from core.ids import check_id
from core.scope import Scope
from core.telemetry.governance import Governance

if TYPE_CHECKING:
    from core.economy.xp import XpService

TEMPLATE_FIELDS = ("member", "level")
MAX_TEMPLATE = 300  # with a mention and a 20-digit level, far under Discord's 2,000
MAX_REWARDS = 100
MAX_LEVEL = 10_000
MAX_PENDING_BATCH = 500
_MARK_BATCH = 1_000


def check_template(text: str) -> str:
    """A valid announcement template: only {member} and {level}, no format tricks, bounded."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("announce_template must be a non-empty text")
    text = text.strip()
    if len(text) > MAX_TEMPLATE:
        raise InvalidInput(f"announce_template is {len(text)} characters; at most {MAX_TEMPLATE}")
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvalidInput(f"announce_template is not a valid template ({exc})") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise InvalidInput(
                f"announce_template has an unknown placeholder {{{name[:40]}}}; "
                "use {member} and {level}"
            )
        if spec or conversion:
            raise InvalidInput(f"announce_template: write {{{name}}} without a format or '!'")
    return text


def render_announcement(template: str, *, member_mention: str, level: int) -> str:
    """The announcement text. Pings are decided by the sender's allowed_mentions (the member
    only); an @everyone the template holds is also broken here so it never even shows as one."""
    safe = template.replace("@everyone", "@\u200beveryone").replace("@here", "@\u200bhere")
    # Role and user mentions written into the template are broken the same way.
    safe = safe.replace("<@", "<@\u200b")
    try:
        return safe.format(member=member_mention, level=f"{level:,}")
    except (KeyError, IndexError, ValueError, AttributeError):
        # Only a config default can be unchecked here; stored templates were validated.
        return f"🎉 {member_mention} reached level {level:,}!"


def check_level_roles(value: object) -> tuple[tuple[int, str], ...]:
    """(level, role id) pairs from stored or given values, ascending by level."""
    items: Iterable[Any] = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, Iterable):
        items = value
    pairs: dict[int, str] = {}
    for item in items:
        level, role_id = item
        level = int(level)
        if not 1 <= level <= MAX_LEVEL:
            raise InvalidInput(f"reward level must be 1-{MAX_LEVEL}, not {level}")
        pairs[level] = check_id(str(role_id), "role id")
    if len(pairs) > MAX_REWARDS:
        raise InvalidInput(f"at most {MAX_REWARDS} level rewards per guild")
    return tuple(sorted(pairs.items()))


@dataclass(frozen=True)
class RolePlan:
    """Reward roles to add and to take away to match a member's level."""

    add: tuple[str, ...]
    remove: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove


def plan(rules: XpGuildSettings, level: int, member_roles: Iterable[str]) -> RolePlan:
    """What the member's reward roles should become at `level`: every reward reached (or
    only the highest with remove_lower_roles); rewards above the level go (an admin lowered
    it). Roles Discord refused before (`blocked_roles`) are left alone."""
    have = {str(r) for r in member_roles}
    reached = [role for at, role in rules.level_roles if at <= level]
    want = set(reached[-1:] if rules.remove_lower_roles else reached)
    rewards = {role for _, role in rules.level_roles}
    blocked = set(rules.blocked_roles)
    add = tuple(sorted(want - have - blocked))
    remove = tuple(sorted((rewards - want) & have - blocked))
    return RolePlan(add, remove)


@dataclass(frozen=True)
class Announcement:
    channel_id: str
    text: str


@dataclass(frozen=True)
class PendingRoles:
    """One member to reconcile: the level they are at now and the roles it calls for."""

    guild_id: str
    user_id: str
    level: int
    changed_at: float
    rules: XpGuildSettings


class RewardService:
    """Reward configuration and the pending level changes; reached as `context.xp.rewards`."""

    def __init__(self, xp: XpService, *, repo: XpRepository, events: Governance) -> None:
        self._xp = xp
        self._repo = repo
        self._events = events

    def rewards(self, guild_id: str) -> XpGuildSettings:
        """The guild's XP rules as stored now (not the settings cache: rewards are changed
        from several processes, and a change builds on what another just stored)."""
        scope = Scope.of(check_id(guild_id, "guild id"))
        return self._xp.stored_rules(scope)

    def add_reward(self, guild_id: str, level: int, role_id: str) -> XpGuildSettings:
        """Give `role_id` at `level` (replacing that level's role); unblocks the role."""
        rules = self.rewards(guild_id)
        pairs = dict(rules.level_roles)
        pairs[_level(level)] = check_id(str(role_id), "role id")
        changes: dict[str, object] = {"level_roles": _stored(pairs)}
        if role_id in rules.blocked_roles:  # the operator fixed the role order, try again
            changes["blocked_roles"] = [r for r in rules.blocked_roles if r != role_id]
        updated = self._xp.update_settings(changes, guild_id=guild_id)
        self._mark_from(guild_id, level)
        return updated

    def _mark_from(self, guild_id: str, level: int) -> None:
        """Mark every member already at `level` or above (a walk down the rank index), so
        the bot hands a new reward to those who earned it before it existed."""
        scope = Scope.of(guild_id)
        floor = self._xp.curve(scope).xp_for_level(level)
        at = time.time()
        offset = 0
        while True:
            rows = self._repo.top(scope, _MARK_BATCH, offset)
            marks = [(user_id, level, at) for user_id, xp in rows if xp >= floor]
            if marks:
                self._repo.mark_levels(scope, marks)
            if len(marks) < _MARK_BATCH:
                return
            offset += _MARK_BATCH

    def remove_reward(self, guild_id: str, level: int) -> XpGuildSettings:
        """Stop rewarding `level`; NotFound-like InvalidInput when no reward is set there."""
        rules = self.rewards(guild_id)
        pairs = dict(rules.level_roles)
        if pairs.pop(_level(level), None) is None:
            from core.errors import UnknownReward

            raise UnknownReward(f"no reward is set for level {level}")
        return self._xp.update_settings({"level_roles": _stored(pairs)}, guild_id=guild_id)

    def announcement(
        self, guild_id: str, *, member_mention: str, level: int, spoke_in: str | None
    ) -> Announcement | None:
        """Where and what to announce for a level-up: the configured channel, else the one
        the member spoke in (`spoke_in`); None when announcements are off or nowhere fits."""
        rules = self.rewards(guild_id)
        channel = rules.announce_channel or spoke_in
        if not rules.announce_level_ups or channel is None:
            return None
        text = render_announcement(
            rules.announce_template, member_mention=member_mention, level=level
        )
        return Announcement(channel_id=channel, text=text)

    def pending(self, guild_ids: Sequence[str], *, limit: int = 100) -> list[PendingRoles]:
        """Members of these guilds whose reward roles need reconciling, oldest change first,
        each with their level now (read again: the mark may be older than the XP)."""
        limit = max(1, min(limit, MAX_PENDING_BATCH))
        scopes = [Scope.of(check_id(g, "guild id")) for g in guild_ids]
        marks: list[PendingLevel] = self._repo.pending_levels(scopes, limit)
        rules: dict[str, XpGuildSettings] = {}
        out = []
        for mark in marks:
            guild_id = mark.scope.key  # a guild's: the global scope leaves no marks
            if guild_id not in rules:  # a reward the CLI just added applies to its marks
                rules[guild_id] = self.rewards(guild_id)
            out.append(
                PendingRoles(
                    guild_id=guild_id,
                    user_id=mark.user_id,
                    level=self._xp.level(mark.user_id, guild_id=guild_id),
                    changed_at=mark.changed_at,
                    rules=rules[guild_id],
                )
            )
        return out

    def done(self, item: PendingRoles) -> bool:
        """Clear a reconciled mark unless a newer change replaced it meanwhile."""
        return self._repo.clear_level(item.user_id, Scope.of(item.guild_id), item.changed_at)

    def block(self, guild_id: str, role_id: str, *, reason: str) -> bool:
        """Record that Discord refused to assign `role_id` (above the bot's role, or no
        Manage Roles): it is skipped until the reward is set again. True the first time,
        when a `governance.xp_reward_blocked` event tells the operator."""
        rules = self.rewards(guild_id)
        role_id = check_id(str(role_id), "role id")
        if role_id in rules.blocked_roles:
            return False
        self._xp.update_settings(
            {"blocked_roles": [*rules.blocked_roles, role_id]}, guild_id=guild_id
        )
        self._events.record(
            "xp_reward_blocked", {"guild_id": guild_id, "role_id": role_id, "reason": reason[:200]}
        )
        return True


def _level(level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= MAX_LEVEL:
        raise InvalidInput(f"reward level must be a whole number 1-{MAX_LEVEL}, not {level!r}")
    return level


def _stored(pairs: dict[int, str]) -> list[list[object]]:
    # JSON-friendly (stored in the settings document): [[level, role id], ...].
    return [[level, role] for level, role in sorted(pairs.items())]
