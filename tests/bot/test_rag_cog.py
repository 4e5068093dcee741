"""The knowledge-base cog: `/search` through its callback with a mocked Interaction
(dpytest has no slash-command support), against the real service on both backends."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.app import AbbyBot
from bot.cogs.rag import Rag
from core.context import AppContext


@pytest.fixture
async def cog(context: AppContext) -> Rag:
    return Rag(AbbyBot(context))


def _interaction(guild: int | None) -> MagicMock:
    interaction = MagicMock(spec=discord.Interaction)
    interaction.guild_id = guild
    interaction.user = SimpleNamespace(id=42)
    interaction.response.defer = AsyncMock()
    interaction.followup.send = AsyncMock()
    return interaction


async def test_search_answers_with_the_guilds_best_passages(cog: Rag, context: AppContext) -> None:
    context.rag.ingest_text(
        "rules", "Server rules", "No spoilers outside #spoilers.", guild_id="99"
    )
    context.rag.ingest_text("other", "Other rules", "Spoilers are fine anywhere.", guild_id="77")
    context.rag.ingest_text("faq", "FAQ", "Events are announced in #events.")
    interaction = _interaction(99)
    await cog.search.callback(cog, interaction, "where can I post spoilers?", 2)
    interaction.response.defer.assert_awaited_once()
    card = interaction.followup.send.await_args.kwargs["embed"]
    assert card.title == "🔎 where can I post spoilers?"
    assert len(card.fields) == 2
    assert card.fields[0].name == "1. Server rules"
    assert "No spoilers outside #spoilers." in card.fields[0].value
    assert all("Other rules" not in field.name for field in card.fields)


async def test_search_with_nothing_ingested_says_so(cog: Rag) -> None:
    interaction = _interaction(None)
    await cog.search.callback(cog, interaction, "anything", 3)
    card = interaction.followup.send.await_args.kwargs["embed"]
    assert "Nothing in the knowledge base" in card.description
