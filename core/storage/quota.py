"""Quotas: storage space per user and in total, and generations per user per UTC day.

Space comes from the file records' totals. The daily count is one database row per
(user, UTC day), shared by every guild and every process; a generation reserves its unit with
one guarded increment before calling the API and releases it with a guarded decrement when
the generation fails without being charged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.clock import Clock
from core.config import QuotaSettings
from core.errors import InvalidInput, QuotaExceeded
from core.ids import check_id
from core.storage.repository import GLOBAL_OWNER, DailyCounterRepository, FileRepository

MB = 1024 * 1024
WARNING_AT = 80.0
CRITICAL_AT = 95.0


@dataclass(frozen=True)
class SpaceQuota:
    used_mb: float
    limit_mb: float
    percentage: float
    status: str  # OK, WARNING, CRITICAL


@dataclass(frozen=True)
class DailyQuota:
    allowed: bool
    remaining: int
    limit: int
    used: int
    reset_hours: float


@dataclass(frozen=True)
class QuotaStatus:
    user_id: str
    guild_id: str | None
    storage_global: SpaceQuota
    user: SpaceQuota
    daily: DailyQuota

    def as_dict(self) -> dict[str, Any]:
        """The seed's shape: {"global": {...}, "user": {...}, "daily": {...}}."""
        g, u, d = self.storage_global, self.user, self.daily
        return {
            "global": {
                "used_mb": g.used_mb,
                "total_mb": g.limit_mb,
                "percentage": g.percentage,
                "status": g.status,
            },
            "user": {
                "used_mb": u.used_mb,
                "limit_mb": u.limit_mb,
                "percentage": u.percentage,
                "status": u.status,
            },
            "daily": {
                "allowed": d.allowed,
                "remaining": d.remaining,
                "limit": d.limit,
                "used": d.used,
                "reset_hours": d.reset_hours,
            },
        }


@dataclass(frozen=True)
class Reservation:
    """One daily unit taken for a generation; hand it back with QuotaManager.release."""

    user_id: str
    day: str
    used: int
    limit: int


def level_status(percentage: float) -> str:
    if percentage < WARNING_AT:
        return "OK"
    if percentage < CRITICAL_AT:
        return "WARNING"
    return "CRITICAL"


def _space(used_bytes: int, limit_mb: float) -> SpaceQuota:
    used_mb = used_bytes / MB
    percentage = round(100.0 * used_mb / limit_mb, 2) if limit_mb > 0 else 100.0
    return SpaceQuota(round(used_mb, 3), limit_mb, percentage, level_status(percentage))


def utc_day(moment: datetime) -> str:
    return moment.date().isoformat()


class QuotaManager:
    """The seed's quota tracker. `status`/`reserve` are typed; `get_quota_status` is the seed's."""

    def __init__(
        self,
        *,
        files: FileRepository,
        daily: DailyCounterRepository,
        settings: QuotaSettings,
        clock: Clock,
    ) -> None:
        self._files = files
        self._daily = daily
        self._settings = settings
        self._clock = clock

    def user_limit_mb(self, guild_id: str | None) -> float:
        override = self._settings.guilds.get(guild_id or "")
        if override is not None and override.user_mb is not None:
            return override.user_mb
        return self._settings.user_mb

    def daily_limit(
        self,
        user_id: str,
        guild_id: str | None = None,
        roles: Iterable[str] = (),
        level: int = 0,
    ) -> int:
        """The day's generation limit: the base, raised (never lowered) by the member's role
        ids (`quota.role_limits`), level, owner."""
        settings = self._settings
        override = settings.guilds.get(guild_id or "")
        base = settings.daily_generations
        role_limits = dict(settings.role_limits)
        if override is not None:
            if override.daily_generations is not None:
                base = override.daily_generations
            role_limits.update(override.role_limits)
        candidates = [base]
        candidates += [role_limits[role] for role in roles if role in role_limits]
        bands = [limit for floor, limit in settings.level_bands.items() if level >= floor]
        if bands:
            candidates.append(max(bands))
        if user_id in settings.owner_ids:
            candidates.append(settings.owner_limit)
        return max(candidates)

    def status(
        self,
        user_id: str,
        guild_id: str | None = None,
        roles: Iterable[str] | None = None,
        level: int | None = None,
    ) -> QuotaStatus:
        user_id = check_id(user_id, "user id")
        if guild_id is not None:
            guild_id = check_id(guild_id, "guild id")
        roles, level = _roles(roles), _level(level)
        now = self._clock.now()
        limit = self.daily_limit(user_id, guild_id, roles, level)
        used = self._daily.used(user_id, utc_day(now))
        remaining = max(0, limit - used)
        return QuotaStatus(
            user_id=user_id,
            guild_id=guild_id,
            storage_global=_space(self._files.usage(GLOBAL_OWNER).bytes, self._settings.global_mb),
            user=_space(self._files.usage(user_id).bytes, self.user_limit_mb(guild_id)),
            daily=DailyQuota(
                allowed=remaining > 0,
                remaining=remaining,
                limit=limit,
                used=used,
                reset_hours=_hours_to_midnight(now),
            ),
        )

    def reserve(
        self,
        user_id: str,
        guild_id: str | None = None,
        roles: Iterable[str] | None = None,
        level: int | None = None,
    ) -> Reservation:
        """Take one of today's generations. Raises QuotaExceeded (daily count or space)."""
        user_id = check_id(user_id, "user id")
        if guild_id is not None:
            guild_id = check_id(guild_id, "guild id")
        roles, level = _roles(roles), _level(level)
        global_used = self._files.usage(GLOBAL_OWNER).bytes / MB
        if global_used >= self._settings.global_mb:
            raise QuotaExceeded(
                f"image storage is full ({global_used:.0f} of {self._settings.global_mb:g} MB); "
                "ask an operator to run cleanup"
            )
        user_limit = self.user_limit_mb(guild_id)
        user_used = self._files.usage(user_id).bytes / MB
        if user_used >= user_limit:
            raise QuotaExceeded(
                f"your storage is full ({user_used:.1f} of {user_limit:g} MB); delete some images"
            )
        now = self._clock.now()
        day = utc_day(now)
        limit = self.daily_limit(user_id, guild_id, roles, level)
        used = self._daily.reserve(user_id, day, limit)
        if used is None:
            raise QuotaExceeded(
                f"daily limit reached ({limit} generations); "
                f"it resets in {_hours_to_midnight(now):.1f} h (UTC midnight)",
                limit=limit,
            )
        return Reservation(user_id, day, used, limit)

    def release(self, reservation: Reservation) -> bool:
        """Give a reserved unit back (the generation failed and was not charged)."""
        return self._daily.release(reservation.user_id, reservation.day)

    def get_quota_status(
        self,
        user_id: str,
        guild_id: str | None = None,
        user_roles: Iterable[str] | None = None,
        user_level: int | None = None,
    ) -> dict[str, Any]:
        """The seed's dict: {"global": ..., "user": ..., "daily": ...}."""
        return self.status(user_id, guild_id, user_roles, user_level).as_dict()


def _roles(roles: Iterable[str] | None) -> tuple[str, ...]:
    """The member's role ids. Limits are keyed by id, so a name would silently match nothing:
    it is refused instead."""
    if roles is None:
        return ()
    if isinstance(roles, str):
        roles = [r for r in roles.split(",")]
    ids = tuple(str(r).strip() for r in roles if str(r).strip())
    for role in ids:
        if not role.isdigit() or len(role) > 20:
            raise InvalidInput(
                f"role {role[:40]!r} is not a role id: quotas match roles by id (digits)"
            )
    return ids


def _level(level: int | None) -> int:
    if level is None:
        return 0
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise InvalidInput("level must be a whole number >= 0")
    return level


def _hours_to_midnight(now: datetime) -> float:
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return round((midnight - now).total_seconds() / 3600, 2)
