"""The privacy and profile cogs' details in-process (the flows themselves run end to end in
test_profiles_privacy_e2e.py): the confirmation's expiry and its owner check, the export's
attachment limit, the timezone autocomplete."""

from __future__ import annotations

import asyncio
import gzip
import json
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.app import AbbyBot
from bot.cogs.privacy import EXPIRED, NOT_YOURS, ForgetConfirmation, Privacy, export_file
from bot.cogs.users import Users
from core.context import AppContext
from core.errors import InvalidInput


@pytest.fixture
def bot(context: AppContext) -> AbbyBot:
    return AbbyBot(context)


def _interaction(user: int = 1, *, limit: int = 10 * 1024 * 1024) -> MagicMock:
    interaction = MagicMock(spec=discord.Interaction)
    interaction.guild_id = 99
    interaction.user = SimpleNamespace(id=user, name=f"user{user}")
    interaction.extras = {}
    interaction.filesize_limit = limit
    interaction.response.is_done = MagicMock(return_value=False)
    interaction.response.send_message = AsyncMock()
    interaction.response.defer = AsyncMock()
    interaction.response.edit_message = AsyncMock()
    interaction.edit_original_response = AsyncMock()
    interaction.followup.send = AsyncMock()
    return interaction


def _member_with_data(context: AppContext, user: str = "1") -> None:
    context.users.upsert(user, "kim", guild_id="99")
    context.xp.add(user, 50, guild_id="99")


async def test_an_unanswered_confirmation_expires_and_erases_nothing(
    bot: AbbyBot, context: AppContext
) -> None:
    _member_with_data(context)
    origin = _interaction()
    view = ForgetConfirmation(Privacy(bot), origin, timeout=0.2)
    bot._connection.store_view(view, 555)  # as discord.py does once the message is sent
    assert await asyncio.wait_for(view.wait(), 5) is True  # True: it timed out
    await asyncio.sleep(0.05)  # on_timeout runs in its own task
    kwargs = origin.edit_original_response.await_args.kwargs
    assert kwargs["content"] == EXPIRED and kwargs["view"] is None
    assert context.users.get("1", guild_id="99") is not None
    assert context.xp.get("1", guild_id="99").xp == 50


async def test_only_the_member_who_asked_can_confirm(bot: AbbyBot, context: AppContext) -> None:
    _member_with_data(context)
    view = ForgetConfirmation(Privacy(bot), _interaction(user=1))
    stranger = _interaction(user=2)
    assert await view.interaction_check(stranger) is False
    args, kwargs = stranger.response.send_message.await_args
    assert args[0] == NOT_YOURS and kwargs["ephemeral"] is True
    owner = _interaction(user=1)
    assert await view.interaction_check(owner) is True
    again = _interaction(user=1)
    assert await view.interaction_check(again) is False  # a double press decides once
    again.response.defer.assert_awaited_once()
    assert context.users.get("1", guild_id="99") is not None


def test_an_export_over_the_attachment_limit_is_gzipped_or_refused() -> None:
    data = json.dumps({"sessions": ["the same words again"] * 5000}).encode()
    plain = export_file(data, "1", len(data))
    assert plain.filename == "abby-data-1.json"
    packed = export_file(data, "1", len(data) - 1)
    assert packed.filename == "abby-data-1.json.gz"
    assert gzip.decompress(packed.fp.read()) == data
    assert export_file(data, "1", 100) is None


async def test_an_export_too_big_even_gzipped_says_so_and_attaches_nothing(
    bot: AbbyBot, context: AppContext
) -> None:
    _member_with_data(context)
    interaction = _interaction(limit=100)
    cog = Privacy(bot)
    await cog.export.callback(cog, interaction)
    args, kwargs = interaction.followup.send.await_args
    assert "more than the 0.0 MB Discord lets me attach" in args[0]
    assert "file" not in kwargs and kwargs["ephemeral"] is True


async def test_the_timezone_autocomplete_offers_at_most_25_real_zones(bot: AbbyBot) -> None:
    cog = Users(bot)
    paris = await cog._zones(_interaction(), "paris")
    assert [c.value for c in paris] == ["Europe/Paris"]
    many = await cog._zones(_interaction(), "a")
    assert len(many) == 25 and all(len(c.name) <= 100 for c in many)
    assert await cog._zones(_interaction(), "x" * 500) == []


async def test_profile_set_with_nothing_to_set_is_refused(bot: AbbyBot) -> None:
    cog = Users(bot)
    with pytest.raises(InvalidInput, match="give a bio, pronouns or a timezone"):
        await cog.set_fields.callback(cog, _interaction(), None, None, None)
