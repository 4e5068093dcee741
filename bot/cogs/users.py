"""Profiles: `/profile view`, `/profile set`, `/profile clear`; every message refreshes its
author's profile.

`/profile` is a group (Discord lets a name be a command or a group, not both): members see
`/profile view` and `/profile set` side by side in the command picker. What a member may set
and how it is checked (length, control characters, IANA zone names) is the core's rule, the
one `abby user set` follows; the option lengths below repeat the core's limits so Discord's
client stops an over-long value before it is sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import NO_PINGS, defused, embed
from bot.where import guild_of, message_guild
from core.errors import InvalidInput
from core.users.service import MEMBER_FIELDS, UPDATABLE_FIELDS, suggest_timezones

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.users.repository import UserProfile
    from core.users.service import UserService

BIO_CHARS = UPDATABLE_FIELDS["bio"]
PRONOUN_CHARS = UPDATABLE_FIELDS["pronouns"]
ZONE_CHARS = UPDATABLE_FIELDS["timezone"]
FIELD_CHOICES = [app_commands.Choice(name=name, value=name) for name in MEMBER_FIELDS]


def _clock_text(local: datetime) -> str:
    """14:05, Tue 1 Dec (UTC+01:00)"""
    offset = local.utcoffset() or timedelta(0)  # the core's local time is always aware
    minutes = int(offset.total_seconds() // 60)
    hours, rest = divmod(abs(minutes), 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{local:%H:%M, %a} {local.day} {local:%b} (UTC{sign}{hours:02d}:{rest:02d})"


class Users(commands.Cog):
    group = app_commands.Group(name="profile", description="Show or edit profiles.")

    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    @property
    def users(self) -> UserService:
        return self.bot.context.users

    async def cog_load(self) -> None:
        # The zone list is read from disk once; do it now, not in a member's autocomplete.
        await self.bot.run_core(suggest_timezones, "")

    @group.command(name="view", description="Show a member's profile.")
    @app_commands.describe(member="Whose profile (default: yours)")
    async def profile(
        self, interaction: discord.Interaction, member: discord.Member | None = None
    ) -> None:
        target = member or interaction.user
        profile = await self.bot.run_core(
            self.users.require, str(target.id), guild_id=guild_of(interaction)
        )
        await interaction.response.send_message(
            embed=self._card(profile), allowed_mentions=NO_PINGS
        )

    @group.command(name="set", description="Set your bio, pronouns or timezone.")
    @app_commands.describe(
        bio=f"About you (up to {BIO_CHARS} characters)",
        pronouns="How to refer to you, e.g. she/her",
        timezone="Where you are, as an IANA zone such as Europe/Paris",
    )
    async def set_fields(
        self,
        interaction: discord.Interaction,
        bio: app_commands.Range[str, 1, BIO_CHARS] | None = None,
        pronouns: app_commands.Range[str, 1, PRONOUN_CHARS] | None = None,
        timezone: app_commands.Range[str, 1, ZONE_CHARS] | None = None,
    ) -> None:
        given = {"bio": bio, "pronouns": pronouns, "timezone": timezone}
        updates = {name: value for name, value in given.items() if value is not None}
        if not updates:
            raise InvalidInput("give a bio, pronouns or a timezone to set")
        # A member who never spoke has no profile yet: setting a field creates it.
        profile = await self.bot.run_core(
            self.users.update,
            str(interaction.user.id),
            updates,
            guild_id=guild_of(interaction),
            create=True,
            name=interaction.user.name,
        )
        await interaction.response.send_message(
            "Saved. This is your profile now:",
            embed=self._card(profile),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @set_fields.autocomplete("timezone")
    async def _zones(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in suggest_timezones(current)]

    @group.command(name="clear", description="Remove your bio, pronouns or timezone.")
    @app_commands.describe(field="What to remove")
    @app_commands.choices(field=FIELD_CHOICES)
    async def clear(self, interaction: discord.Interaction, field: str) -> None:
        profile = await self.bot.run_core(
            self.users.update,
            str(interaction.user.id),
            {field: None},
            guild_id=guild_of(interaction),
        )
        await interaction.response.send_message(
            f"Removed your {field}.",
            embed=self._card(profile),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    def _card(self, profile: UserProfile) -> discord.Embed:
        local = self.users.local_time(profile)
        fields: dict[str, object] = {
            "Pronouns": defused(profile.pronouns) if profile.pronouns else None,
            "Timezone": profile.timezone,
        }
        if local is not None:
            fields["Local time"] = _clock_text(local)
        fields["Member since"] = profile.created_at.date().isoformat()
        return embed(
            profile.display_name or profile.username,
            fields,
            description=defused(profile.bio) if profile.bio else None,
        )

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        guild_id = message_guild(message)
        await self.bot.write(
            self.users.upsert,
            str(message.author.id),
            message.author.name,
            message.author.discriminator,
            guild_id=guild_id,
        )


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(Users(bot))
