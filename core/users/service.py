"""The user service: Discord profiles per scope (a guild, or global when guild_id is None)."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from core.clock import Clock
from core.errors import ConfigError, InvalidInput, UnknownUser
from core.ids import check_id
from core.scope import Scope
from core.users.repository import UserProfile, UserRepository

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
# What a member may set about themselves from Discord (the bot's `/profile set`).
MEMBER_FIELDS = ("bio", "pronouns", "timezone")
# Only a bio may span lines; every other field is shown on one line.
_MULTILINE = frozenset({"bio"})
# Bidirectional overrides and isolates reorder the text around them: a name or bio could
# show as something it is not (a classic spoofing trick), so they are refused like controls.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Names under the zone database that are not places: the server's own zone, tzdata's
# placeholder and a build artefact.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
_ZONE_LIKE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)?")
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
        self._repo.upsert(user_id, Scope.of(guild_id), username, discriminator, self._clock.now())

    def get(self, user_id: str, *, guild_id: str | None = None) -> UserProfile | None:
        return self._repo.get(check_id(user_id, "user id"), Scope.of(guild_id))

    def require(self, user_id: str, *, guild_id: str | None = None) -> UserProfile:
        """Like get(), but raise UnknownUser when there is no profile in that scope."""
        profile = self.get(user_id, guild_id=guild_id)
        if profile is None:
            raise UnknownUser(f"no profile for user {user_id} in {_scope_name(Scope.of(guild_id))}")
        return profile

    def update(
        self,
        user_id: str,
        updates: Mapping[str, Any],
        *,
        guild_id: str | None = None,
        create: bool = False,
        name: str | None = None,
    ) -> UserProfile:
        """Set whitelisted fields (None clears one). Raise InvalidInput or UnknownUser.

        Every front end sets profile fields through here, so the rules are one: length
        limits, no control or bidirectional-override characters, an IANA zone name. With
        create, a missing profile is made first (one insert-if-absent, so a profile another
        process created meanwhile is kept), its username the one in `updates`, else `name`
        (the bot passes the member's Discord name), else the user id.
        """
        user_id = check_id(user_id, "user id")
        if not isinstance(updates, Mapping) or not updates:
            raise InvalidInput("updates must be a non-empty mapping of field to value")
        clean = {field: _validate_field(field, value) for field, value in updates.items()}
        scope = Scope.of(guild_id)
        if create:
            username = clean.get("username") or (
                _text("username", name, UPDATABLE_FIELDS["username"]) if name else user_id
            )
            self._repo.create(user_id, scope, username, self._clock.now())
        if not self._repo.update(user_id, scope, clean, self._clock.now()):
            raise UnknownUser(f"no profile for user {user_id} in {_scope_name(scope)}")
        return self.require(user_id, guild_id=guild_id)

    def add(self, user_id: str, name: str, *, guild_id: str | None = None) -> UserProfile:
        """Create USER_ID's profile named `name`; InvalidInput when it exists already."""
        user_id = check_id(user_id, "user id")
        name = _text("name", name, UPDATABLE_FIELDS["username"])
        if self.get(user_id, guild_id=guild_id) is not None:
            raise InvalidInput(
                f"user {user_id} already has a profile in {_scope_name(Scope.of(guild_id))};"
                " change it with `abby user set`"
            )
        self._repo.upsert(user_id, Scope.of(guild_id), name, None, self._clock.now())
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

    def local_time(self, profile: UserProfile) -> datetime | None:
        """The time now where the member lives, or None without a (still known) timezone."""
        if not profile.timezone or profile.timezone not in _zones():
            return None
        return self._clock.now().astimezone(ZoneInfo(profile.timezone))


def _scope_name(scope: Scope) -> str:
    """'the global scope' or 'guild 123', as the messages read."""
    return scope.display


def _text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text")
    value = value.replace("\r\n", "\n").strip()
    if not value:
        raise InvalidInput(f"{name} must not be empty")
    if len(value) > limit:
        raise InvalidInput(f"{name} is {len(value)} characters; the limit is {limit}")
    allowed = "\n\t" if name in _MULTILINE else "\t"
    if "\n" in value and name not in _MULTILINE:
        raise InvalidInput(f"{name} must be one line")
    if any(c in _BIDI or (unicodedata.category(c) == "Cc" and c not in allowed) for c in value):
        raise InvalidInput(f"{name} contains control characters")
    return value


@functools.cache
def _zones() -> frozenset[str]:
    """The IANA zone names this machine knows (system zoneinfo, else the tzdata package);
    read once: the set only changes with a tzdata upgrade, and a restart picks that up."""
    return frozenset(available_timezones()) - _NOT_ZONES


def _zone(text: str) -> str:
    """`text` if it names an IANA zone. A name is looked up in the known set rather than
    opened: ZoneInfo would read any file under the zone directory it is given."""
    zones = _zones()
    if not zones:
        raise ConfigError("no time zone database found; install the tzdata package")
    if text in zones:
        return text
    near = next((z for z in sorted(zones) if z.lower() == text.lower()), None)
    hint = f"; did you mean {near}?" if near else ""
    # Echo only what looks like a zone name: a path such as ../../etc/passwd is not repeated.
    shown = repr(text) if _ZONE_LIKE.fullmatch(text) else "that"
    raise InvalidInput(f"timezone {shown} is not an IANA zone name such as Europe/Paris{hint}")


def suggest_timezones(text: str, limit: int = 25) -> list[str]:
    """Zone names for an autocomplete: those starting with `text` (any case), then those
    containing it, at most `limit` (Discord shows 25)."""
    zones = sorted(_zones())
    wanted = text.strip().lower().replace(" ", "_")[:64]
    first = [z for z in zones if z.lower().startswith(wanted)]
    inside = [z for z in zones if wanted in z.lower() and not z.lower().startswith(wanted)]
    return (first + inside)[:limit]


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
        return _zone(text)
    if name == "locale" and not _LOCALE.fullmatch(text):
        raise InvalidInput(f"locale {text!r} is not a language tag such as en-US")
    return text
