"""The XP service: grants, corrections, message XP with its cooldown, ranks and settings.

Every change is one atomic repository operation; the level comes from the scope's curve and
a level-up is detected by comparing the level before and after. Per-scope settings live in
the database (config gives the defaults); a process trusts what it read for
`settings_cache_seconds`, while the cooldown itself is always checked in the database.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.clock import Clock
from core.config import XpSettings
from core.economy._checks import check_amount, check_reason
from core.economy.levels import MAX_INT64, Curve, make_curve
from core.economy.levels import progress as level_progress
from core.economy.repository import (
    LeaderboardRow,
    XpChange,
    XpGuildSettings,
    XpRepository,
    XpStatus,
)
from core.economy.rewards import RewardService, check_level_roles, check_template
from core.economy.voice import VoiceMember, eligible
from core.errors import InvalidInput
from core.ids import check_id
from core.progress import Progress
from core.scope import Scope
from core.telemetry.governance import Governance

if TYPE_CHECKING:
    from core.users import UserService

# Keys an operator may set per scope, and how to read each from text (the CLI's VALUE).
SETTING_KEYS = (
    "min_grant",
    "max_grant",
    "cooldown_seconds",
    "curve",
    "power_base",
    "power_exponent",
    "ignored_channels",
    "ignored_roles",
    "announce_level_ups",
    "level_roles",
    "remove_lower_roles",
    "announce_channel",
    "announce_template",
    "voice_xp_per_minute",
    "blocked_roles",
)
MAX_LEADERBOARD = 1_000
MAX_IMPORT_PLAYERS = 1_000_000
_IMPORT_BATCH = 5_000
# How an import meets XP a member already has: replace sets the file's total (may lower),
# max keeps the higher of the two (never lowers; the default), add adds the file's total.
IMPORT_MODES = ("replace", "max", "add")


@dataclass(frozen=True)
class ImportReport:
    guild_id: str | None
    players: int
    changed: int
    unchanged: int
    mode: str = "max"
    dry_run: bool = False
    lowered: int = 0  # members whose XP the import lowers (only --mode replace can)
    profiles_created: int = 0  # profiles made from the file's usernames


def parse_setting(key: str, text: str) -> int | float | bool | str | list[str] | None:
    """Turn an operator's text VALUE for `key` into its typed value ("default" = unset)."""
    if key not in SETTING_KEYS:
        raise InvalidInput(f"unknown XP setting {key!r}; settings: {', '.join(SETTING_KEYS)}")
    text = text.strip()
    if text.lower() == "default":
        return None
    try:
        if key in ("min_grant", "max_grant", "cooldown_seconds", "voice_xp_per_minute"):
            return int(text)
        if key in ("power_base", "power_exponent"):
            return float(text)
    except ValueError:
        raise InvalidInput(f"{key} must be a number, not {text[:40]!r}") from None
    if key in ("ignored_channels", "ignored_roles"):
        items = [item.strip() for item in text.split(",") if item.strip()]
        return [check_id(item, key.removeprefix("ignored_").rstrip("s") + " id") for item in items]
    if key in ("announce_level_ups", "remove_lower_roles"):
        if text.lower() in ("true", "yes", "on", "1"):
            return True
        if text.lower() in ("false", "no", "off", "0"):
            return False
        raise InvalidInput(f"{key} must be true or false, not {text[:40]!r}")
    if key == "announce_channel":
        return None if text.lower() == "none" else check_id(text, "channel id")
    if key == "announce_template":
        return check_template(text)
    if key in ("level_roles", "blocked_roles"):
        raise InvalidInput(f"change {key} with `abby xp rewards add|remove`")
    return text


class XpService:
    def __init__(
        self,
        *,
        repo: XpRepository,
        settings: XpSettings,
        clock: Clock,
        rng: random.Random | None = None,
        events: Governance = Governance(),
    ) -> None:
        self._repo = repo
        self._defaults = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._events = events
        self._cache: dict[Scope, tuple[float, XpGuildSettings, Curve]] = {}
        self._cache_lock = threading.Lock()
        self.rewards = RewardService(self, repo=repo, events=events)

    # --- settings -----------------------------------------------------------------------

    def settings_for(self, guild_id: str | None = None) -> XpGuildSettings:
        """The XP rules of a scope: config defaults overlaid with the stored overrides."""
        return self._rules(Scope.of(guild_id))[0]

    def stored_rules(self, scope: Scope) -> XpGuildSettings:
        """A scope's rules as stored now, past the cache (rewards build on what another
        process just stored)."""
        return self._merge(scope, self._repo.get_settings(scope))

    def curve(self, scope: Scope) -> Curve:
        """The level curve of a scope (cached like its settings)."""
        return self._rules(scope)[1]

    def _rules(self, scope: Scope) -> tuple[XpGuildSettings, Curve]:
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(scope)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        rules = self._merge(scope, self._repo.get_settings(scope))
        curve = make_curve(
            rules.curve, power_base=rules.power_base, power_exponent=rules.power_exponent
        )
        with self._cache_lock:
            self._cache[scope] = (now + self._defaults.settings_cache_seconds, rules, curve)
        return rules, curve

    def _merge(self, scope: Scope, stored: Mapping[str, Any]) -> XpGuildSettings:
        d = self._defaults
        values: dict[str, Any] = {
            "min_grant": d.min_grant,
            "max_grant": d.max_grant,
            "cooldown_seconds": d.cooldown_seconds,
            "curve": d.curve,
            "power_base": d.power_base,
            "power_exponent": d.power_exponent,
            "announce_level_ups": d.announce_level_ups,
            "announce_template": d.announce_template,
            "voice_xp_per_minute": d.voice_xp_per_minute,
        }
        values.update({k: v for k, v in stored.items() if k in SETTING_KEYS})
        values["ignored_channels"] = tuple(values.get("ignored_channels") or ())
        values["ignored_roles"] = tuple(values.get("ignored_roles") or ())
        values["level_roles"] = check_level_roles(values.get("level_roles") or ())
        values["blocked_roles"] = tuple(values.get("blocked_roles") or ())
        return XpGuildSettings(guild_id=scope.guild_id, **values)

    def update_settings(
        self, changes: Mapping[str, Any], *, guild_id: str | None = None
    ) -> XpGuildSettings:
        """Store overrides for a scope (a None value removes one); validated as a whole."""
        scope = Scope.of(guild_id)
        stored = dict(self._repo.get_settings(scope))
        for key, value in changes.items():
            if key not in SETTING_KEYS:
                raise InvalidInput(f"unknown XP setting {key!r}")
            if value is None:
                stored.pop(key, None)
            else:
                stored[key] = value
        merged = self._merge(scope, stored)
        _validate(merged)
        self._repo.set_settings(scope, stored, self._clock.now())
        with self._cache_lock:
            self._cache.pop(scope, None)
        self._events.record("xp_settings_changed", {"guild_id": guild_id, "keys": sorted(changes)})
        return merged

    # --- reads --------------------------------------------------------------------------

    def get(self, user_id: str, *, guild_id: str | None = None) -> XpStatus:
        """XP, level, rank and progress; a user with no record has 0 XP and no rank."""
        user_id = check_id(user_id, "user id")
        scope = Scope.of(guild_id)
        _, curve = self._rules(scope)
        xp = self._repo.get(user_id, scope)
        step = level_progress(curve, xp or 0)
        return XpStatus(
            user_id=user_id,
            guild_id=guild_id,
            xp=xp or 0,
            level=step.level,
            rank=None if xp is None else self._repo.rank(user_id, scope, xp),
            xp_into_level=step.xp_into_level,
            xp_for_next=step.xp_for_next,
            xp_to_next=step.xp_to_next,
        )

    def level(self, user_id: str, *, guild_id: str | None = None) -> int:
        scope = Scope.of(guild_id)
        xp = self._repo.get(check_id(user_id, "user id"), scope) or 0
        return self._rules(scope)[1].level_for_xp(xp)

    def leaderboard(
        self, *, guild_id: str | None = None, limit: int = 10, offset: int = 0
    ) -> list[LeaderboardRow]:
        """Top users by XP (ties by user id), with rank, level and progress."""
        limit, offset = check_amount(limit, "limit"), check_amount(offset, "offset")
        if not 1 <= limit <= MAX_LEADERBOARD or offset < 0:
            raise InvalidInput(f"limit must be 1-{MAX_LEADERBOARD} and offset not negative")
        scope = Scope.of(guild_id)
        _, curve = self._rules(scope)
        rows = []
        for position, (user_id, xp) in enumerate(self._repo.top(scope, limit, offset)):
            step = level_progress(curve, xp)
            rows.append(
                LeaderboardRow(
                    rank=offset + position + 1,
                    user_id=user_id,
                    guild_id=guild_id,
                    xp=xp,
                    level=step.level,
                    xp_into_level=step.xp_into_level,
                    xp_for_next=step.xp_for_next,
                )
            )
        return rows

    # --- changes ------------------------------------------------------------------------

    def add(
        self,
        user_id: str,
        amount: int,
        *,
        guild_id: str | None = None,
        reason: str | None = None,
        actor_id: str | None = None,
    ) -> XpChange:
        """Add (or, negative, remove) XP in one atomic update; XP never goes below zero.

        The grant, its reason and who made it (`actor_id`: a moderator; None = an operator)
        are recorded as a `governance.xp_add` event."""
        user_id = check_id(user_id, "user id")
        amount = check_amount(amount)
        reason = check_reason(reason)
        actor_id = None if actor_id is None else check_id(actor_id, "actor id")
        scope = Scope.of(guild_id)
        _, curve = self._rules(scope)
        now = self._clock.now()
        with self._repo.atomic():
            previous, new = self._repo.add(user_id, scope, amount, now)
            change = _change(curve, user_id, guild_id, amount, previous, new, reason)
            self._mark(scope, [change], now.timestamp())
        self._events.record(
            "xp_add",
            {
                "guild_id": guild_id,
                "user_id": user_id,
                "amount": amount,
                "xp": new,
                "reason": reason,
                "actor_id": actor_id,
            },
        )
        return change

    def grant_message(
        self,
        user_id: str,
        *,
        guild_id: str | None = None,
        now: datetime | float | None = None,
        channel_id: str | None = None,
        role_ids: Iterable[str] = (),
    ) -> XpChange | None:
        """Grant message XP (a random amount in the scope's range) unless the channel or one
        of the roles is ignored, or the user is on cooldown; the cooldown check and the grant
        are one database operation. None = nothing granted."""
        user_id = check_id(user_id, "user id")
        scope = Scope.of(guild_id)
        rules, curve = self._rules(scope)
        if channel_id is not None and str(channel_id) in rules.ignored_channels:
            return None
        if rules.ignored_roles and any(str(r) in rules.ignored_roles for r in role_ids):
            return None
        if now is None:
            now = self._clock.now()
        stamp = now.timestamp() if isinstance(now, datetime) else float(now)
        amount = self._rng.randint(rules.min_grant, rules.max_grant)
        # No transaction of its own (the hot path stays one statement): the bot runs this on
        # the grant writer, whose batch transaction holds the grant and its level mark.
        result = self._repo.grant_if_cooled(
            user_id, scope, amount, stamp, float(rules.cooldown_seconds)
        )
        if result is None:
            return None
        change = _change(
            curve, user_id, guild_id, amount, *result, "message", announce=rules.announce_level_ups
        )
        self._mark(scope, [change], time.time())
        return change

    def grant_voice(
        self, guild_id: str, members: Iterable[VoiceMember], *, afk_channel_id: str | None = None
    ) -> list[XpChange]:
        """Pay one minute of voice XP to every eligible member (core.economy.voice) in one
        batched write; returns the changes (those with `announce` leveled up)."""
        scope = Scope.of(check_id(guild_id, "guild id"))
        rules, curve = self._rules(scope)
        ids = eligible(members, afk_channel_id=afk_channel_id)
        if not ids or rules.voice_xp_per_minute <= 0:
            return []
        amount = rules.voice_xp_per_minute
        now = self._clock.now()
        with self._repo.atomic():
            rows = self._repo.add_many(scope, ids, amount, now)
            changes = [
                _change(curve, u, guild_id, amount, before, after, "voice",
                        announce=rules.announce_level_ups)
                for u, before, after in rows
            ]  # fmt: skip
            self._mark(scope, changes, now.timestamp())
        return changes

    def _mark(self, scope: Scope, changes: Iterable[XpChange], at: float) -> None:
        """Leave a pending mark for every change that moved a guild member's level."""
        if scope.is_global:
            return  # the global scope has no roles
        marks = [(c.user_id, c.level, at) for c in changes if c.level != c.previous_level]
        if marks:
            self._repo.mark_levels(scope, marks)

    def import_mee6(
        self,
        data: object,
        *,
        guild_id: str,
        mode: str = "max",
        dry_run: bool = False,
        progress: Progress | None = None,
        users: UserService | None = None,
    ) -> ImportReport:
        """Import XP totals from MEE6's leaderboard JSON ({"players": [{"id", "xp", ...}]}).

        The whole file is validated before anything is written (InvalidInput names the first
        bad player). `mode` is one of IMPORT_MODES; the default, max, never lowers anyone's
        XP, and replace and max are idempotent. With `users`, a player's `username` makes
        (or refreshes) their profile in the guild. `dry_run` reports exactly what the import
        would change and writes nothing. `progress(done, total)` counts players.
        """
        if mode not in IMPORT_MODES:
            raise InvalidInput(f"mode must be one of {', '.join(IMPORT_MODES)}, not {mode!r}")
        scope = Scope.of(check_id(guild_id, "guild id"))
        players = _mee6_players(data)
        rows = [(user_id, xp) for user_id, xp, _, _ in players]
        lowered = 0
        changed = 0
        if dry_run or mode == "replace":
            # Reads only to report (a replace's lowered count; a dry run's every count).
            for user_id, xp in rows:
                current = self._repo.get(user_id, scope)
                target = _imported(mode, current, xp)
                lowered += current is not None and target < current
                changed += current is None or target != current
        profiles = 0
        if users is not None:
            named = [(u, name, d) for u, _, name, d in players if name is not None]
            profiles = sum(users.get(u, guild_id=guild_id) is None for u, _, _ in named)
            if not dry_run:
                for user_id, name, discriminator in named:
                    users.upsert(user_id, name, discriminator, guild_id=guild_id)
        if not dry_run:
            changed = 0
            for start in range(0, len(rows), _IMPORT_BATCH):
                batch = rows[start : start + _IMPORT_BATCH]
                changed += self._repo.set_many(scope, batch, self._clock.now(), mode=mode)
                self._mark_imported(scope, batch)
                if progress is not None:
                    progress(start + len(batch), len(rows))
            self._events.record(
                "xp_import",
                {"guild_id": guild_id, "players": len(rows), "changed": changed, "mode": mode},
            )
        elif progress is not None:
            progress(len(rows), len(rows))
        return ImportReport(
            guild_id,
            len(rows),
            changed,
            len(rows) - changed,
            mode=mode,
            dry_run=dry_run,
            lowered=lowered,
            profiles_created=profiles,
        )

    def _mark_imported(self, scope: Scope, batch: list[tuple[str, int]]) -> None:
        # An import does not say whose level moved: with rewards set, everyone it leaves at
        # or above the first reward level is reconciled by the bot; without, nobody needs it.
        rules, curve = self._rules(scope)
        if not rules.level_roles:
            return
        floor = curve.xp_for_level(rules.level_roles[0][0])
        at = time.time()
        marks = [(u, curve.level_for_xp(xp), at) for u, xp in batch if xp >= floor]
        if marks:
            self._repo.mark_levels(scope, marks)


def _change(
    curve: Curve,
    user_id: str,
    guild_id: str | None,
    amount: int,
    previous: int,
    new: int,
    reason: str | None,
    *,
    announce: bool = False,
) -> XpChange:
    """The change as callers see it; `announce` only when the level went up."""
    before, after = curve.level_for_xp(previous), curve.level_for_xp(new)
    return XpChange(
        user_id=user_id,
        guild_id=guild_id,
        amount=amount,
        xp=new,
        level=after,
        previous_xp=previous,
        previous_level=before,
        leveled_up=after > before,
        reason=reason,
        announce=announce and after > before,
    )


def _validate(rules: XpGuildSettings) -> None:
    for name in ("min_grant", "max_grant", "cooldown_seconds"):
        value = getattr(rules, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
            raise InvalidInput(f"{name} must be a whole number from 0 to 1000000000")
    if rules.min_grant > rules.max_grant:
        raise InvalidInput(f"min_grant {rules.min_grant} is above max_grant {rules.max_grant}")
    if rules.curve not in ("mee6", "power"):
        raise InvalidInput(f"curve must be mee6 or power, not {rules.curve!r}")
    for name in ("power_base", "power_exponent"):
        value = getattr(rules, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1e12:
            raise InvalidInput(f"{name} must be a positive number")
    if rules.power_exponent > 10:
        raise InvalidInput("power_exponent must be at most 10")
    for name in ("announce_level_ups", "remove_lower_roles"):
        if not isinstance(getattr(rules, name), bool):
            raise InvalidInput(f"{name} must be true or false")
    value = rules.voice_xp_per_minute
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**6:
        raise InvalidInput("voice_xp_per_minute must be a whole number from 0 to 1000000")
    if rules.announce_channel is not None:
        check_id(str(rules.announce_channel), "announce_channel")
    check_template(rules.announce_template)
    for name in ("ignored_channels", "ignored_roles"):
        for item in getattr(rules, name):
            check_id(item, name)


def _imported(mode: str, current: int | None, xp: int) -> int:
    """The total a member ends with when `xp` is imported over `current` (None: no row)."""
    if current is None:
        return xp
    if mode == "replace":
        return xp
    if mode == "max":
        return max(current, xp)
    return min(current + xp, MAX_INT64)


def _mee6_players(data: object) -> list[tuple[str, int, str | None, str | None]]:
    """(id, xp, username, discriminator) per player; the last line for an id wins."""
    if not isinstance(data, Mapping) or not isinstance(data.get("players"), list):
        raise InvalidInput('not a MEE6 leaderboard: expected {"players": [...]}')
    players = data["players"]
    if len(players) > MAX_IMPORT_PLAYERS:
        raise InvalidInput(f"too many players ({len(players)}); the limit is {MAX_IMPORT_PLAYERS}")
    rows: dict[str, tuple[str, int, str | None, str | None]] = {}
    for index, player in enumerate(players):
        if not isinstance(player, Mapping) or "id" not in player or "xp" not in player:
            raise InvalidInput(f"player #{index + 1} has no id or xp")
        xp = player["xp"]
        if isinstance(xp, bool) or not isinstance(xp, int) or not 0 <= xp <= MAX_INT64:
            raise InvalidInput(f"player #{index + 1} has an invalid xp value")
        user_id = check_id(player["id"], f"player #{index + 1} id")
        name = player.get("username")
        if not isinstance(name, str) or not name.strip() or any(ord(c) < 32 for c in name):
            name = None  # a blank or odd username costs the profile, not the import
        discriminator = player.get("discriminator")
        discriminator = str(discriminator) if isinstance(discriminator, str | int) else None
        if discriminator in ("0", "") or (discriminator and len(discriminator) > 8):
            discriminator = None  # Discord's new usernames have no discriminator
        rows[user_id] = (user_id, xp, name.strip()[:100] if name else None, discriminator)
    return list(rows.values())
