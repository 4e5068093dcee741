"""`/bank-admin`: admins mint or burn currency through the ledger, with a reason.

Shown by default to members with Manage Server; the core checks the guild's admin roles
again. The interaction id is the idempotency key, so a redelivered command moves money once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import MAX_INTEGER
from bot.moderation import actor
from bot.render import NO_PINGS

if TYPE_CHECKING:
    from bot.app import AbbyBotBase

REASON_CHARS = 200


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class AdminBank(
    commands.GroupCog,
    group_name="bank-admin",
    group_description="Admins: add currency to or remove it from a member's account.",
):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    async def _adjust(
        self, interaction: discord.Interaction, member: discord.Member, amount: int, reason: str
    ) -> None:
        movement = await self.bot.run_core(
            self.bot.context.moderation.adjust_balance,
            actor(interaction),
            str(member.id),
            amount,
            reason=reason,
            idempotency_key=f"discord-{interaction.id}",
            is_bot=member.bot,
        )
        currency = self.bot.context.settings.bank.currency_name
        done = "Added" if amount > 0 else "Removed"
        after = movement.balance_after
        await interaction.response.send_message(
            f"{done} {movement.amount:,} {currency} {'to' if amount > 0 else 'from'} "
            f"{member.mention}" + (f" (balance {after:,})." if after is not None else "."),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(name="add", description="Add currency to a member's account.")
    @app_commands.describe(member="Whose account", amount="How much", reason="Why (in the ledger)")
    async def add(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: app_commands.Range[int, 1, MAX_INTEGER],
        reason: app_commands.Range[str, 1, REASON_CHARS],
    ) -> None:
        await self._adjust(interaction, member, amount, reason)

    @app_commands.command(name="remove", description="Remove currency from a member's account.")
    @app_commands.describe(member="Whose account", amount="How much", reason="Why (in the ledger)")
    async def remove(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: app_commands.Range[int, 1, MAX_INTEGER],
        reason: app_commands.Range[str, 1, REASON_CHARS],
    ) -> None:
        await self._adjust(interaction, member, -amount, reason)


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(AdminBank(bot))
