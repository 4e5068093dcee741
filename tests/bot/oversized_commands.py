"""A bot extension whose one command Discord would refuse: the validator must stop its sync.

Loaded only by tests/bot/test_command_tree_limits.py (through `bot.app.COGS`).
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands


class Oversized(commands.Cog):
    # /pay as it was before #9: the bank's 2**63-1 as an option bound, which Discord refuses.
    @app_commands.command(name="pay_all", description="Give everything away.")
    async def pay_all(
        self, interaction: discord.Interaction, amount: app_commands.Range[int, 1, 2**63 - 1]
    ) -> None:
        raise AssertionError("never synced, never called")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Oversized())
