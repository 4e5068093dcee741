"""Levels in Discord: message XP with level-up announcements, /rank and /leaderboard.
Every rule (cooldown, ignored channels and roles, curve) is the core's; the bank's commands
are `bot.cogs.bank`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.levels import announce_level_up
from bot.pages import Page, send_pages
from bot.render import NO_PINGS, embed
from bot.where import guild_of

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.economy.xp import XpService


class Economy(commands.Cog):
    # Level-up announcements are channel messages (slash replies need no permission).
    bot_permissions = discord.Permissions(send_messages=True)

    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    @property
    def xp(self) -> XpService:
        return self.bot.context.xp

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None:
            return
        roles = [str(role.id) for role in getattr(message.author, "roles", ())]
        # The grant writer batches this with other messages' grants: the event loop never
        # waits on the database, and slash commands never queue behind a burst.
        change = await self.bot.write(
            self.xp.grant_message,
            str(message.author.id),
            guild_id=str(message.guild.id),
            now=message.created_at,
            channel_id=str(message.channel.id),
            role_ids=roles,
        )
        if change is not None and change.announce:
            await announce_level_up(
                self.bot, message.guild, message.author, change.level, spoke_in=message.channel
            )

    @app_commands.command(name="rank", description="Show a member's XP, level and rank.")
    @app_commands.describe(member="Whose rank (default: yours)")
    async def rank(
        self, interaction: discord.Interaction, member: discord.Member | None = None
    ) -> None:
        target = member or interaction.user
        status = await self.bot.run_core(
            self.xp.get, str(target.id), guild_id=guild_of(interaction)
        )
        await interaction.response.send_message(
            embed=embed(
                f"{target.display_name} — level {status.level}",
                {
                    "XP": f"{status.xp:,}",
                    "Rank": f"#{status.rank}" if status.rank else "unranked",
                    f"Progress to level {status.level + 1}": progress_bar(
                        status.xp_into_level, status.xp_for_next
                    ),
                },
            ),
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(name="leaderboard", description="The top members by XP, page by page.")
    @app_commands.describe(limit="Members per page (1-25)")
    async def leaderboard(
        self, interaction: discord.Interaction, limit: app_commands.Range[int, 1, 25] = 10
    ) -> None:
        guild_id = guild_of(interaction)

        async def page(index: int) -> Page:
            # One row more than shown says whether a next page exists (an index range).
            rows = await self.bot.run_core(
                self.xp.leaderboard, guild_id=guild_id, limit=limit + 1, offset=index * limit
            )
            lines = [
                f"**#{r.rank}** <@{r.user_id}> — level {r.level} ({r.xp:,} XP)"
                for r in rows[:limit]
            ]
            card = embed("Leaderboard", {}, description="\n".join(lines) or "No XP yet.")
            card.set_footer(text=f"Page {index + 1}")
            return Page(card, has_next=len(rows) > limit)

        await send_pages(interaction, page)


def progress_bar(done: int, total: int, *, width: int = 12) -> str:
    """`▰▰▰▱▱▱ 1,234 / 2,000 XP (61%)`: integer maths, so huge totals never overflow."""
    total = max(total, 1)
    done = max(0, min(done, total))
    filled = done * width // total
    bar = "▰" * filled + "▱" * (width - filled)
    return f"{bar} {done:,} / {total:,} XP ({done * 100 // total}%)"


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(Economy(bot))
