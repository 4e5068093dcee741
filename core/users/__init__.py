"""Users: Discord profiles per scope (a guild, or global when guild_id is None)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.clock import Clock
from core.errors import InvalidInput, UnknownUser
from core.ids import check_id, scope_key
from core.users.repository import UserProfile, UserRepository

__all__ = ["UPDATABLE_FIELDS", "UserProfile", "UserRepository", "UserService"]

# Field -> longest accepted value. Anything else is refused: ids, timestamps and XP are not
# profile fields a caller may set.
UPDATABLE_FIELDS: dict[str, int] = {
    "username": 100,
    "display_name": 100,
    "bio": 1000,
    "timezone": 64,
    "locale": 16,
    "pronouns": 40,
}
_LOCALE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*")


class UserService:
    def __init__(self, *, repo: UserRepository, clock: Clock) -> None:
        self._repo = repo
        self._clock = clock

    def upsert(
        self,
        user_id: str,
        username: str,
        discriminator: str | None = None,
        *,
        guild_id: str | None = None,
    ) -> None:
        """Create or refresh a profile; idempotent."""
        user_id = check_id(user_id, "user id")
        username = _text("username", username, UPDATABLE_FIELDS["username"])
        if discriminator is not None:
            discriminator = _text("discriminator", str(discriminator), 8)
        self._repo.upsert(user_id, scope_key(guild_id), username, discriminator, self._clock.now())

    def get(self, user_id: str, *, guild_id: str | None = None) -> UserProfile | None:
        return self._repo.get(check_id(user_id, "user id"), scope_key(guild_id))

    def require(self, user_id: str, *, guild_id: str | None = None) -> UserProfile:
        """Like get(), but raise UnknownUser when there is no profile in that scope."""
        profile = self.get(user_id, guild_id=guild_id)
        if profile is None:
            raise UnknownUser(f"no profile for user {user_id} in {_scope_name(guild_id)}")
        return profile

    def update(
        self,
        user_id: str,
        updates: Mapping[str, Any],
        *,
        guild_id: str | None = None,
        create: bool = False,
    ) -> UserProfile:
        """Set whitelisted fields (None clears one). Raise InvalidInput or UnknownUser.

        With create, a missing profile is made first, its username the one in `updates`
        or else the user id (a Discord username is refreshed when the member is next seen).
        """
        user_id = check_id(user_id, "user id")
        if not isinstance(updates, Mapping) or not updates:
            raise InvalidInput("updates must be a non-empty mapping of field to value")
        clean = {name: _validate_field(name, value) for name, value in updates.items()}
        scope = scope_key(guild_id)
        if create and self._repo.get(user_id, scope) is None:
            username = clean.get("username") or user_id
            self._repo.upsert(user_id, scope, username, None, self._clock.now())
        if not self._repo.update(user_id, scope, clean, self._clock.now()):
            raise UnknownUser(f"no profile for user {user_id} in {_scope_name(guild_id)}")
        return self.require(user_id, guild_id=guild_id)

    def add(self, user_id: str, name: str, *, guild_id: str | None = None) -> UserProfile:
        """Create USER_ID's profile named `name`; InvalidInput when it exists already."""
        user_id = check_id(user_id, "user id")
        name = _text("name", name, UPDATABLE_FIELDS["username"])
        if self.get(user_id, guild_id=guild_id) is not None:
            raise InvalidInput(
                f"user {user_id} already has a profile in {_scope_name(guild_id)};"
                " change it with `abby user set`"
            )
        self._repo.upsert(user_id, scope_key(guild_id), name, None, self._clock.now())
        return self.require(user_id, guild_id=guild_id)

    def names(self, user_ids: Iterable[str], *, guild_id: str | None = None) -> dict[str, str]:
        """The name to show beside each id that has a profile: the guild's profile, else the
        global one; its display name, else its username. Ids without a profile are absent."""
        found: dict[str, str] = {}
        for user_id in user_ids:
            profile = self.get(user_id, guild_id=guild_id)
            if profile is None and guild_id is not None:
                profile = self.get(user_id)
            if profile is not None:
                found[user_id] = profile.display_name or profile.username
        return found

    def count(self) -> int:
        return self._repo.count()


def _scope_name(guild_id: str | None) -> str:
    return "the global scope" if guild_id is None else f"guild {guild_id}"


def _text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text")
    value = value.strip()
    if not value:
        raise InvalidInput(f"{name} must not be empty")
    if len(value) > limit:
        raise InvalidInput(f"{name} is {len(value)} characters; the limit is {limit}")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise InvalidInput(f"{name} contains control characters")
    return value


def _validate_field(name: object, value: object) -> str | None:
    if name not in UPDATABLE_FIELDS:
        allowed = ", ".join(sorted(UPDATABLE_FIELDS))
        raise InvalidInput(f"field {name!r} cannot be updated; updatable fields: {allowed}")
    if value is None and name == "username":
        raise InvalidInput("username cannot be cleared: every profile has one")
    if value is None:
        return None
    text = _text(str(name), value, UPDATABLE_FIELDS[str(name)])
    if name == "timezone":
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"timezone {text!r} is not an IANA zone such as Europe/Paris"
            ) from None
    if name == "locale" and not _LOCALE.fullmatch(text):
        raise InvalidInput(f"locale {text!r} is not a language tag such as en-US")
    return text
