"""Profiles: `/profile` shows one; every message refreshes its author's profile."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import NO_PINGS, defused, embed


class Users(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @property
    def users(self):  # noqa: ANN201
        return self.bot.context.users

    @app_commands.command(name="profile", description="Show a member's profile.")
    @app_commands.describe(member="Whose profile (default: yours)")
    async def profile(
        self, interaction: discord.Interaction, member: discord.Member | None = None
    ) -> None:
        target = member or interaction.user
        guild_id = str(interaction.guild_id) if interaction.guild_id else None
        profile = await self.bot.run_core(self.users.require, str(target.id), guild_id=guild_id)
        await interaction.response.send_message(
            embed=embed(
                profile.display_name or profile.username,
                {
                    "Pronouns": profile.pronouns,
                    "Timezone": profile.timezone,
                    "Member since": profile.created_at.date().isoformat(),
                },
                description=defused(profile.bio) if profile.bio else profile.bio,
            ),
            allowed_mentions=NO_PINGS,
        )

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        guild_id = str(message.guild.id) if message.guild else None
        await self.bot.write(
            self.users.upsert,
            str(message.author.id),
            message.author.name,
            message.author.discriminator,
            guild_id=guild_id,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Users(bot))
