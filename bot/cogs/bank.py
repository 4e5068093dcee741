"""The bank in Discord: /balance, /pay and /daily. Every rule (funds, limits, idempotency, once a
day, no bots) is the core's."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import MAX_INTEGER
from bot.render import NO_PINGS, defused, pinging
from core.errors import AlreadyClaimed

# The bank holds up to 2**63-1, but Discord refuses an integer option beyond ±(2**53-1).
MAX_AMOUNT = MAX_INTEGER


def _guild(interaction: discord.Interaction) -> str | None:
    return str(interaction.guild_id) if interaction.guild_id else None


class Bank(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @property
    def bank(self):  # noqa: ANN201
        return self.bot.context.bank

    @app_commands.command(name="balance", description="Show a member's balance.")
    @app_commands.describe(member="Whose balance (default: yours)")
    async def balance(
        self, interaction: discord.Interaction, member: discord.Member | None = None
    ) -> None:
        target = member or interaction.user
        result = await self.bot.run_core(
            self.bank.balance, str(target.id), guild_id=_guild(interaction)
        )
        currency = self.bot.context.settings.bank.currency_name
        await interaction.response.send_message(
            f"{defused(target.display_name)} has {result.balance:,} {currency}.",
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(name="pay", description="Give some of your currency to a member.")
    @app_commands.describe(member="Who receives it", amount="How much", reason="What for")
    async def pay(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: app_commands.Range[int, 1, MAX_AMOUNT],
        reason: str | None = None,
    ) -> None:
        # The interaction id is the idempotency key: a redelivered interaction pays once.
        movement = await self.bot.run_core(
            self.bank.transfer,
            str(interaction.user.id),
            str(member.id),
            amount,
            guild_id=_guild(interaction),
            idempotency_key=f"discord-{interaction.id}",
            reason=reason,
            payee_is_bot=member.bot,
        )
        currency = self.bot.context.settings.bank.currency_name
        await interaction.response.send_message(
            f"{interaction.user.mention} paid {member.mention} {movement.amount:,} {currency}.",
            allowed_mentions=pinging(member),
        )

    @app_commands.command(name="daily", description="Claim your daily coins (once per UTC day).")
    async def daily(self, interaction: discord.Interaction) -> None:
        # Deferred: with several bot processes a claim may wait on another's same-key write.
        await interaction.response.defer(ephemeral=True, thinking=True)
        currency = self.bot.context.settings.bank.currency_name
        try:
            claim = await self.bot.run_core(
                self.bank.daily, str(interaction.user.id), guild_id=_guild(interaction)
            )
        except AlreadyClaimed as exc:
            opens = int(exc.fields["next_at"].timestamp())
            await interaction.followup.send(
                f"⏳ You already claimed today's {currency}; the next daily opens <t:{opens}:R>.",
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
            return
        opens = int(claim.next_at.timestamp())
        balance = "" if claim.balance is None else f" You now have {claim.balance:,}."
        await interaction.followup.send(
            f"💰 You claimed {claim.amount:,} {currency}.{balance} "
            f"The next daily opens <t:{opens}:R>.",
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Bank(bot))
