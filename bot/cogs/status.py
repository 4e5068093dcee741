"""`/abby status`: uptime, gateway latency, backend, schema versions, record counts and the
last heartbeat, privately to moderators (the core checks the guild's roles)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.moderation import actor
from bot.render import NO_PINGS, embed

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.moderation import BotStatus

COUNT_FIELDS = 12  # the embed keeps its 25 fields: six facts, then the largest tables


@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
class Status(commands.GroupCog, group_name="abby", group_description="About the bot itself."):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    @app_commands.command(name="status", description="Uptime, latency, database and counts.")
    async def status(self, interaction: discord.Interaction) -> None:
        report = await self.bot.run_core(
            self.bot.context.moderation.status,
            actor(interaction),
            uptime_seconds=time.monotonic() - self.bot.started,
            latency=self.bot.latency,
        )
        await interaction.response.send_message(
            embed=status_embed(report), ephemeral=True, allowed_mentions=NO_PINGS
        )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m {secs}s"


def status_embed(report: BotStatus) -> discord.Embed:
    schema = ", ".join(f"{k} {v}" for k, v in sorted(report.schema.items()))
    fields: dict[str, object] = {
        "Uptime": _duration(report.uptime_seconds),
        "Gateway latency": "-" if report.latency_ms is None else f"{report.latency_ms:.0f} ms",
        "Database": report.backend,
        "Last heartbeat": report.last_heartbeat or "none yet",
        "Schema": schema[:1000] or "-",
    }
    largest = sorted(report.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:COUNT_FIELDS]
    fields.update({name[:250]: f"{count:,}" for name, count in largest})
    return embed("Abby status", fields)


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(Status(bot))
