"""Knowledge base: `/search` answers with the closest passages this server may see."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import COLOR_OK, NO_PINGS, defused, fit_embed
from bot.where import guild_of

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.rag.results import QueryResult

# Discord limits: 25 fields, 256-character field names, 1,024-character field values.
SNIPPET_CHARS = 300


def results_embed(query: str, results: list[QueryResult]) -> discord.Embed:
    """An embed with one field per result: title, score, source and a snippet."""
    query = defused(query)
    title = f"🔎 {query}" if len(query) <= 240 else f"🔎 {query[:239]}…"
    if not results:
        return discord.Embed(
            title=title,
            description="Nothing in the knowledge base matches that yet.",
            color=COLOR_OK,
        )
    card = discord.Embed(title=title, color=COLOR_OK)
    for rank, result in enumerate(results, 1):
        name = result.title + (f" › {result.heading}" if result.heading else "")
        name = defused(f"{rank}. {name}")[:250]
        # Document text is anyone's who could drop a file in the docs folder: defuse it.
        text = defused(" ".join(result.text.split()))
        if len(text) > SNIPPET_CHARS:
            text = text[: SNIPPET_CHARS - 1] + "…"
        source = os.path.basename(result.source) or result.source
        value = f"{text}\n-# {source} · score {result.score:.2f}"
        card.add_field(name=name, value=value[:1024], inline=False)
    # Ten long results came to 6,104 characters; Discord refuses more than 6,000 in total.
    return fit_embed(card)


class Rag(commands.Cog):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    @app_commands.command(name="search", description="Search the knowledge base.")
    @app_commands.describe(query="A question or a few keywords", results="How many passages")
    async def search(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, 500],
        results: app_commands.Range[int, 1, 10] = 3,
    ) -> None:
        guild_id = guild_of(interaction)
        # Embedding and Chroma are blocking: defer so Discord waits for the worker thread.
        await interaction.response.defer(thinking=True)
        found = await self.bot.run_core(
            self.bot.context.rag.query,
            query,
            guild_id=guild_id,
            user_id=str(interaction.user.id),
            top_k=results,
        )
        await interaction.followup.send(
            embed=results_embed(query, found), allowed_mentions=NO_PINGS
        )


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(Rag(bot))
