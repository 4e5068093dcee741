"""`/xp-admin`: moderators correct a member's XP; admins change the guild's XP rules.

Shown by default to members who can manage messages; the core checks the guild's moderator
and admin roles again in each handler (`bot.moderation`), `settings` needing admin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import MAX_INTEGER
from bot.moderation import actor
from bot.render import NO_PINGS, defused, embed

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.economy.repository import XpGuildSettings

# check_reason's limit: Discord then refuses a longer reason before it reaches the core.
REASON_CHARS = 200


@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
class AdminXp(
    commands.GroupCog,
    group_name="xp-admin",
    group_description="Moderators: correct a member's XP or change the XP rules.",
):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    async def _grant(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: int,
        reason: str | None,
    ) -> None:
        change = await self.bot.run_core(
            self.bot.context.moderation.grant_xp,
            actor(interaction),
            str(member.id),
            amount,
            reason=reason,
        )
        verb = "Gave" if amount > 0 else "Took"
        await interaction.response.send_message(
            f"{verb} {abs(amount):,} XP {'to' if amount > 0 else 'from'} {member.mention}: "
            f"now {change.xp:,} XP, level {change.level}.",
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(name="add", description="Give a member XP.")
    @app_commands.describe(member="Who gets it", amount="How much XP", reason="Why (kept)")
    async def add(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: app_commands.Range[int, 1, MAX_INTEGER],
        reason: app_commands.Range[str, 1, REASON_CHARS] | None = None,
    ) -> None:
        await self._grant(interaction, member, amount, reason)

    @app_commands.command(name="remove", description="Take XP from a member (never below 0).")
    @app_commands.describe(member="From whom", amount="How much XP", reason="Why (kept)")
    async def remove(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: app_commands.Range[int, 1, MAX_INTEGER],
        reason: app_commands.Range[str, 1, REASON_CHARS] | None = None,
    ) -> None:
        await self._grant(interaction, member, -amount, reason)

    @app_commands.command(name="settings", description="Show or change the XP rules (admins).")
    @app_commands.describe(
        cooldown_seconds="Seconds between two XP-earning messages",
        min_grant="Least XP a message earns",
        max_grant="Most XP a message earns",
        announce_level_ups="Announce level-ups in the channel",
        ignore_channel="A channel where messages earn no XP",
        unignore_channel="A channel that earns XP again",
        ignore_role="A role whose members earn no XP",
        unignore_role="A role that earns XP again",
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        cooldown_seconds: app_commands.Range[int, 0, 10**9] | None = None,
        min_grant: app_commands.Range[int, 0, 10**6] | None = None,
        max_grant: app_commands.Range[int, 0, 10**6] | None = None,
        announce_level_ups: bool | None = None,
        ignore_channel: app_commands.AppCommandChannel | None = None,
        unignore_channel: app_commands.AppCommandChannel | None = None,
        ignore_role: discord.Role | None = None,
        unignore_role: discord.Role | None = None,
    ) -> None:
        values = {
            "cooldown_seconds": cooldown_seconds,
            "min_grant": min_grant,
            "max_grant": max_grant,
            "announce_level_ups": announce_level_ups,
        }
        rules = await self.bot.run_core(
            self.bot.context.moderation.xp_settings,
            actor(interaction),
            {k: v for k, v in values.items() if v is not None},
            ignore=_ids(ignored_channels=ignore_channel, ignored_roles=ignore_role),
            unignore=_ids(ignored_channels=unignore_channel, ignored_roles=unignore_role),
        )
        await interaction.response.send_message(
            embed=settings_embed(rules), ephemeral=True, allowed_mentions=NO_PINGS
        )


def _ids(**objects: discord.abc.Snowflake | None) -> dict[str, list[str]]:
    return {key: [str(obj.id)] for key, obj in objects.items() if obj is not None}


def settings_embed(rules: XpGuildSettings) -> discord.Embed:
    def listed(ids: tuple[str, ...], mark: str) -> str:
        shown = " ".join(f"<{mark}{i}>" for i in ids[:40])
        return (shown + (f" (+{len(ids) - 40} more)" if len(ids) > 40 else "")) or "none"

    return embed(
        "XP rules",
        {
            "Cooldown": f"{rules.cooldown_seconds:,} s",
            "XP per message": f"{rules.min_grant:,}-{rules.max_grant:,}",
            "Level-up announcements": "on" if rules.announce_level_ups else "off",
            "Curve": defused(rules.curve),
            "Ignored channels": listed(rules.ignored_channels, "#"),
            "Ignored roles": listed(rules.ignored_roles, "@&"),
        },
    )


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(AdminXp(bot))
