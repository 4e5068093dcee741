"""Who may run the bot's admin and moderator commands: the core's decision, not Discord's.

Discord's `default_permissions` only choose who *sees* a command, and a server admin can edit
them to show it to anyone; so every admin command asks `require` again with plain values (the
guild, the member's role ids, whether Discord resolved Manage Server for them). A guild's
roles come from config (`discord.admin_role_ids`, `discord.moderator_role_ids`), overridden
per guild by what `abby bot settings --guild G` stored. An admin may do what a moderator may.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from core.errors import NotPermitted


class Level(IntEnum):
    MEMBER = 0
    MODERATOR = 1
    ADMIN = 2


@dataclass(frozen=True)
class Actor:
    """The member running a command, as Discord described them in the interaction."""

    user_id: str
    guild_id: str | None  # None in a direct message: no guild rights there
    role_ids: tuple[str, ...] = ()
    manage_guild: bool = False


@dataclass(frozen=True)
class GuildAccess:
    """A guild's admin and moderator roles, after the stored overrides."""

    guild_id: str
    admin_role_ids: tuple[str, ...] = ()
    moderator_role_ids: tuple[str, ...] = ()


def level_of(access: GuildAccess | None, *, role_ids: Iterable[str], manage_guild: bool) -> Level:
    """The member's level in a guild: Manage Server or an admin role is admin."""
    if access is None:  # a DM: nobody administers anything from there
        return Level.MEMBER
    roles = {str(r) for r in role_ids}
    if manage_guild or roles & set(access.admin_role_ids):
        return Level.ADMIN
    if roles & set(access.moderator_role_ids):
        return Level.MODERATOR
    return Level.MEMBER


def require(need: Level, access: GuildAccess | None, actor: Actor) -> Level:
    """Return the actor's level, or raise NotPermitted (exit 4) when it is below `need`."""
    have = level_of(access, role_ids=actor.role_ids, manage_guild=actor.manage_guild)
    if have >= need:
        return have
    if access is None:
        raise NotPermitted("moderation commands only work inside a server")
    if need is Level.ADMIN:
        raise NotPermitted("this command is for server admins (an admin role or Manage Server)")
    raise NotPermitted("this command is for moderators (a moderator or admin role)")
