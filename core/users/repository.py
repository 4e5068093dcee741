"""Users: the profile record and the repository interface both backends implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.db.records import Field, Portable, Record, Table
from core.scope import Scope


@dataclass(frozen=True)
class UserProfile:
    user_id: str
    guild_id: str | None
    username: str
    discriminator: str | None
    display_name: str | None
    bio: str | None
    timezone: str | None
    locale: str | None
    pronouns: str | None
    created_at: datetime
    updated_at: datetime


def _mongo_id(record: Record) -> str:
    # Imported here: core.db.mongo imports pymongo, which the SQLite backend never needs.
    from core.db.mongo import scoped_id

    return scoped_id(record["scope"], record["user_id"])


class UserRepository(Portable, ABC):
    """Profiles keyed by (user id, scope); a scope is one guild or the global scope."""

    TABLES = (
        Table(
            "users",
            key=("user_id", "scope"),
            fields=(
                *(Field(name) for name in ("user_id", "scope", "username", "discriminator")),
                *(Field(name) for name in ("display_name", "bio", "timezone", "locale")),
                Field("pronouns"),
                Field("created_at", "time"),
                Field("updated_at", "time"),
            ),
            mongo_id=_mongo_id,
            mongo_order=("user_id", "scope"),
        ),
    )

    @abstractmethod
    def upsert(
        self, user_id: str, scope: Scope, username: str, discriminator: str | None, now: datetime
    ) -> None:
        """Create the profile, or refresh its username and discriminator, in one operation."""

    @abstractmethod
    def create(self, user_id: str, scope: Scope, username: str, now: datetime) -> bool:
        """Create the profile unless it exists (then leave it as it is), in one operation;
        True when this call created it."""

    @abstractmethod
    def get(self, user_id: str, scope: Scope) -> UserProfile | None: ...

    @abstractmethod
    def update(self, user_id: str, scope: Scope, fields: Mapping[str, Any], now: datetime) -> bool:
        """Set the given (already validated) fields; False when the profile does not exist."""

    @abstractmethod
    def count(self) -> int: ...

    # --- a member's data (core.users.privacy) ---------------------------------------------

    @abstractmethod
    def member_profiles(self, user_id: str) -> list[UserProfile]:
        """Every profile of one user, in every scope (ordered by scope)."""

    @abstractmethod
    def erase_member(self, user_id: str, scope: Scope) -> int:
        """Delete the user's profile in one scope; return rows deleted (0 on a rerun)."""

    # --- a member's own exports (not portable: a cooldown, not data about the member) ------

    @abstractmethod
    def claim_export(self, user_id: str, now: float, not_before: float) -> float | None:
        """Record an export at `now` (epoch seconds) unless the last one is after
        `not_before`, in one guarded write; None when claimed, else the last export's time."""

    @abstractmethod
    def drop_export(self, user_id: str, at: float | None = None) -> int:
        """Delete the member's export record (only the one made at `at`, when given)."""
