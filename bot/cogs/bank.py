"""The bank in Discord: /balance, /pay, /daily, /transactions and /baltop. Every rule (funds,
limits, idempotency, once a day, no bots) is the core's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import MAX_INTEGER
from bot.pages import Page, send_pages
from bot.render import COLOR_OK, NO_PINGS, defused, fit_embed, opens_at, pinging
from bot.where import guild_of
from core.economy.repository import BalanceRow, LedgerEntry
from core.errors import AlreadyClaimed

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.economy.bank import BankService

# The bank holds up to 2**63-1, but Discord refuses an integer option beyond ±(2**53-1).
MAX_AMOUNT = MAX_INTEGER


PAGE_ROWS = 10


def _who(user_id: str | None, entry: LedgerEntry) -> str:
    """The other side of a ledger line: a mention (pinging nobody: allowed_mentions none and
    embeds never ping), or what minted or burned it."""
    if user_id is None:
        if entry.reason == "daily":
            return "daily reward"
        return "added by the bank" if entry.amount > 0 else "taken by the bank"
    return f"<@{user_id}>" if user_id.isdigit() else f"`{defused(user_id)}`"


def ledger_line(entry: LedgerEntry, currency: str) -> str:
    shown = ""
    if entry.reason:
        # Reasons are member text: markdown shown as typed, and every `<@` broken, since
        # escape_mentions only breaks ids of snowflake length.
        text = discord.utils.escape_markdown(defused(entry.reason))
        shown = " · " + text.replace("<@", "<\u200b@")
    return (
        f"**{entry.amount:+,}** {currency} · {_who(entry.counterparty, entry)}{shown}"
        f" · <t:{int(entry.at.timestamp())}:R>"
    )


def rows_page(title: str, lines: list[str], empty: str, has_next: bool, index: int) -> Page:
    card = discord.Embed(title=title, description="\n".join(lines) or empty, color=COLOR_OK)
    card.set_footer(text=f"Page {index + 1}")
    return Page(embed=fit_embed(card), has_next=has_next)


def top_line(row: BalanceRow, currency: str) -> str:
    return f"**#{row.rank}** <@{row.user_id}> · {row.balance:,} {currency}"


class Bank(commands.Cog):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    @property
    def bank(self) -> BankService:
        return self.bot.context.bank

    @app_commands.command(name="balance", description="Show a member's balance.")
    @app_commands.describe(member="Whose balance (default: yours)")
    async def balance(
        self, interaction: discord.Interaction, member: discord.Member | None = None
    ) -> None:
        target = member or interaction.user
        result = await self.bot.run_core(
            self.bank.balance, str(target.id), guild_id=guild_of(interaction)
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
            guild_id=guild_of(interaction),
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
                self.bank.daily, str(interaction.user.id), guild_id=guild_of(interaction)
            )
        except AlreadyClaimed as exc:
            await interaction.followup.send(
                f"⏳ You already claimed today's {currency}; the next daily opens {opens_at(exc)}.",
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

    @app_commands.command(name="transactions", description="Your own ledger, newest first.")
    async def transactions(self, interaction: discord.Interaction) -> None:
        user_id, guild_id = str(interaction.user.id), guild_of(interaction)
        currency = self.bot.context.settings.bank.currency_name

        async def fetch(index: int) -> Page:
            # One row past the page says whether a next page exists.
            entries = await self.bot.run_core(
                self.bank.history,
                user_id,
                guild_id=guild_id,
                limit=PAGE_ROWS + 1,
                offset=index * PAGE_ROWS,
            )
            lines = [ledger_line(e, currency) for e in entries[:PAGE_ROWS]]
            return rows_page(
                "Your transactions", lines, "No transactions yet.", len(entries) > PAGE_ROWS, index
            )

        await send_pages(interaction, fetch, ephemeral=True)

    @app_commands.command(name="baltop", description="The server's richest members.")
    async def baltop(self, interaction: discord.Interaction) -> None:
        guild_id = guild_of(interaction)
        currency = self.bot.context.settings.bank.currency_name

        async def fetch(index: int) -> Page:
            rows = await self.bot.run_core(
                self.bank.leaderboard, guild_id, limit=PAGE_ROWS + 1, offset=index * PAGE_ROWS
            )
            lines = [top_line(row, currency) for row in rows[:PAGE_ROWS]]
            return rows_page(
                f"Top balances ({currency})", lines, "Nobody holds any yet.",
                len(rows) > PAGE_ROWS, index,
            )  # fmt: skip

        await send_pages(interaction, fetch)


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(Bank(bot))
