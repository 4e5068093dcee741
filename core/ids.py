"""Identifiers and scopes: one rule for user, guild and channel ids everywhere.

`guild_id=None` means the global scope. It is stored under its own key, GLOBAL_SCOPE (the
empty string), which no real guild id can equal, so a global record never matches a guild's.
"""

from __future__ import annotations

import re

from core.errors import InvalidInput

GLOBAL_SCOPE = ""
# Discord snowflakes are digits; operators and tests also use short readable names.
_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def check_id(value: object, what: str = "id") -> str:
    """Return `value` as a clean id string, or raise InvalidInput naming `what`."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInput(f"{what} must be a string or an integer, not {type(value).__name__}")
    text = str(value)
    if not _ID.fullmatch(text):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InvalidInput(
            f"{what} {shown!r} is not valid: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return text


def scope_key(guild_id: object | None) -> str:
    """The stored key of a scope: GLOBAL_SCOPE for None, else the checked guild id."""
    return GLOBAL_SCOPE if guild_id is None else check_id(guild_id, "guild id")


def guild_of(scope: str) -> str | None:
    """Inverse of scope_key."""
    return None if scope == GLOBAL_SCOPE else scope
