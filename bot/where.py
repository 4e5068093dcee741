"""Where a Discord event happened, in the core's terms.

A guild is the core's scope of that guild; a direct message is the global scope. `Scope.of`
makes that choice and checks the id, so no cog spells it by hand; the cogs hand the core
the seed-style `guild_id` (a string, or None for global) that its public methods take.
"""

from __future__ import annotations

import discord

from core.scope import Scope


def scope_of(interaction: discord.Interaction) -> Scope:
    """The scope a slash command or button press acts in (global in a DM)."""
    return Scope.of(interaction.guild_id)


def guild_of(interaction: discord.Interaction) -> str | None:
    """The seed-style guild id of an interaction: its guild's id, None in a DM."""
    return scope_of(interaction).guild_id


def message_guild(message: discord.Message) -> str | None:
    """The seed-style guild id of a message: its guild's id, None in a DM."""
    return Scope.of(message.guild.id if message.guild else None).guild_id
