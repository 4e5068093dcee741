"""Moderation: who may run the bot's admin commands in a guild, and those commands' core.

`access` holds the permission model (pure decisions on plain values), `service` the checked
operations, `uploads` the attachment rules of `/kb ingest`.
"""

from core.moderation.access import Actor, GuildAccess, Level, level_of, require
from core.moderation.service import BotStatus, ModerationService
from core.moderation.uploads import Upload

__all__ = [
    "Actor",
    "BotStatus",
    "GuildAccess",
    "Level",
    "ModerationService",
    "Upload",
    "level_of",
    "require",
]
