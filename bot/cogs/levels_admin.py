"""`/levels`: admins set the guild's level role rewards and its level-up announcement.

Shown by default to members who can manage the server; the core checks the guild's admin
roles again in each handler (`bot.moderation`). A reward role Discord refused to hand out
(above the bot's role) shows as blocked here until the reward is added again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.moderation import actor
from bot.render import NO_PINGS, defused, embed

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.economy.repository import XpGuildSettings

TEMPLATE_CHARS = 300  # core.economy.rewards.MAX_TEMPLATE


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class LevelsAdmin(
    commands.GroupCog,
    group_name="levels",
    group_description="Admins: level role rewards and the level-up announcement.",
):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    async def _rewards(
        self,
        interaction: discord.Interaction,
        *,
        add: tuple[int, str] | None = None,
        remove: int | None = None,
    ) -> None:
        rules = await self.bot.run_core(
            self.bot.context.moderation.level_rewards, actor(interaction), add=add, remove=remove
        )
        await interaction.response.send_message(
            embed=rewards_embed(rules), ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(name="rewards", description="List the level role rewards.")
    async def rewards(self, interaction: discord.Interaction) -> None:
        await self._rewards(interaction)

    @app_commands.command(name="reward-add", description="Give a role on reaching a level.")
    @app_commands.describe(level="Level that earns the role", role="The role to give")
    async def reward_add(
        self,
        interaction: discord.Interaction,
        level: app_commands.Range[int, 1, 10_000],
        role: discord.Role,
    ) -> None:
        await self._rewards(interaction, add=(level, str(role.id)))

    @app_commands.command(name="reward-remove", description="Stop rewarding a level.")
    @app_commands.describe(level="The level whose reward goes (roles given stay)")
    async def reward_remove(
        self, interaction: discord.Interaction, level: app_commands.Range[int, 1, 10_000]
    ) -> None:
        await self._rewards(interaction, remove=level)

    @app_commands.command(name="announce", description="Where and how level-ups are announced.")
    @app_commands.describe(
        channel="Announce every level-up in this channel",
        where_they_speak="Announce in the channel where the member spoke instead",
        template="The line: {member} and {level} are filled in (nothing else)",
        remove_lower_roles="Keep only the highest reward role a member reached",
        voice_xp_per_minute="XP per minute in voice (0 = none)",
    )
    async def announce(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
        where_they_speak: bool | None = None,
        template: app_commands.Range[str, 1, TEMPLATE_CHARS] | None = None,
        remove_lower_roles: bool | None = None,
        voice_xp_per_minute: app_commands.Range[int, 0, 1_000_000] | None = None,
    ) -> None:
        from core.economy.xp import parse_setting
        from core.errors import InvalidInput

        changes: dict[str, object] = {}
        if channel is not None:
            changes["announce_channel"] = str(channel.id)
        elif where_they_speak:
            changes["announce_channel"] = None
        if template is not None:
            try:
                changes["announce_template"] = parse_setting("announce_template", template)
            except InvalidInput as exc:
                # The core's line names the placeholder in braces, which the generic member
                # rendering hides as operator text; admins need to see which one.
                await interaction.response.send_message(
                    f"⚠️ {defused(str(exc))}", ephemeral=True, allowed_mentions=NO_PINGS
                )
                return
        if remove_lower_roles is not None:
            changes["remove_lower_roles"] = remove_lower_roles
        if voice_xp_per_minute is not None:
            changes["voice_xp_per_minute"] = voice_xp_per_minute
        rules = await self.bot.run_core(
            self.bot.context.moderation.xp_settings, actor(interaction), changes
        )
        await interaction.response.send_message(
            embed=rewards_embed(rules), ephemeral=True, allowed_mentions=NO_PINGS
        )


def rewards_embed(rules: XpGuildSettings) -> discord.Embed:
    blocked = " ⚠️ blocked: I cannot hand it out (move my role above it, then add it again)"
    lines = [
        f"Level {level:,} → <@&{role}>" + (blocked if role in rules.blocked_roles else "")
        for level, role in rules.level_roles[:25]
    ]
    if len(rules.level_roles) > 25:
        lines.append(f"(+{len(rules.level_roles) - 25} more)")
    channel = f"<#{rules.announce_channel}>" if rules.announce_channel else "where they speak"
    return embed(
        "Level rewards",
        {
            "Announcements": ("on, " + channel) if rules.announce_level_ups else "off",
            "Template": defused(rules.announce_template)[:1000],
            "Only the highest reward": "yes" if rules.remove_lower_roles else "no",
            "Voice XP per minute": f"{rules.voice_xp_per_minute:,}",
        },
        description="\n".join(lines) or "No level rewards yet.",
    )


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(LevelsAdmin(bot))
