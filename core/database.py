"""The seed's Database API (`abby_core.database`): MongoDB handles, profiles and sessions.

One-line shortcuts onto the services of the current application context (`core.context`),
kept above the services so that `core.db`, which every repository imports, depends on
nothing above it. `connect_to_mongodb()` and `get_collection()` return pymongo objects on
the MongoDB backend and raise ConfigError on the embedded SQLite one.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

# The session functions are the sessions facade's own: one definition of each.
from core.sessions import append_session_message, close_session, create_session

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.collection import Collection

__all__ = [
    "append_session_message",
    "close_session",
    "connect_to_mongodb",
    "create_session",
    "get_collection",
    "get_user_profile",
    "update_user_profile",
    "upsert_user",
]


def connect_to_mongodb() -> MongoClient[Any]:
    """Return the pymongo client of the current context (MongoDB backend only)."""
    from core.context import current

    return current().mongo().client


def get_collection(collection_name: str) -> Collection[Any]:
    """Return a pymongo collection of the current context's database (MongoDB backend only)."""
    from core.context import current

    return current().mongo().collection(collection_name)


def upsert_user(
    user_id: str, username: str, discriminator: str | None = None, guild_id: str | None = None
) -> None:
    """Create or refresh a user's profile in a scope (None = global)."""
    from core.context import current

    current().users.upsert(user_id, username, discriminator, guild_id=guild_id)


def get_user_profile(user_id: str, guild_id: str | None = None) -> dict[str, Any] | None:
    """Return the user's profile as a dict, or None when there is none in that scope."""
    from core.context import current

    profile = current().users.get(user_id, guild_id=guild_id)
    return None if profile is None else dataclasses.asdict(profile)


def update_user_profile(user_id: str, updates: dict[str, Any], guild_id: str | None = None) -> bool:
    """Update whitelisted profile fields; False when the user has no profile in that scope.

    Raises InvalidInput (a ValueError) for a field that is not updatable.
    """
    from core.context import current
    from core.errors import UnknownUser

    try:
        current().users.update(user_id, updates, guild_id=guild_id)
    except UnknownUser:
        return False
    return True
