"""The member running a command, described to the core's permission model.

Discord's `default_permissions` on the admin cogs only choose who sees a command; a server
admin can widen them in Server Settings > Integrations. So every admin handler passes this
`Actor` to the core, which decides. Manage Server is the one Discord resolves for the
interaction (roles and Administrator included); role ids are the member's cached roles, so an
unknown role grants nothing.
"""

from __future__ import annotations

import discord

from bot.where import guild_of
from core.moderation import Actor


def actor(interaction: discord.Interaction) -> Actor:
    user = interaction.user
    in_guild = interaction.guild_id is not None
    return Actor(
        user_id=str(user.id),
        guild_id=guild_of(interaction),
        # A User (a DM, or a member Discord sent without roles) has no roles attribute.
        role_ids=tuple(str(role.id) for role in getattr(user, "roles", ())),
        manage_guild=in_guild and bool(interaction.permissions.manage_guild),
    )
