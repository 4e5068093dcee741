"""The users cog and the bot's one error handler, with a mocked Interaction."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest
from discord import app_commands

from bot.app import COGS, AbbyBot
from bot.cogs.users import Users
from core.context import AppContext
from core.errors import UnknownUser


@pytest.fixture
def bot(context: AppContext) -> AbbyBot:
    return AbbyBot(context)


def _interaction(user: int = 1, guild: int | None = 99) -> MagicMock:
    interaction = MagicMock(spec=discord.Interaction)
    interaction.guild_id = guild
    interaction.user = SimpleNamespace(id=user, name=f"user{user}")
    interaction.response.is_done = MagicMock(return_value=False)
    interaction.response.send_message = AsyncMock()
    interaction.followup.send = AsyncMock()
    return interaction


def _message(user: int, name: str, *, guild: int | None = 99, bot: bool = False):  # noqa: ANN202
    author = SimpleNamespace(id=user, name=name, discriminator="0", bot=bot)
    return SimpleNamespace(author=author, guild=SimpleNamespace(id=guild) if guild else None)


async def test_a_message_creates_and_refreshes_its_authors_profile(
    bot: AbbyBot, context: AppContext
) -> None:
    cog = Users(bot)
    await cog.on_message(_message(5, "first"))
    await cog.on_message(_message(5, "renamed"))
    await cog.on_message(_message(6, "a-bot", bot=True))
    assert context.users.get("5", guild_id="99").username == "renamed"
    assert context.users.get("6", guild_id="99") is None


async def test_profile_shows_the_invokers_profile(bot: AbbyBot, context: AppContext) -> None:
    context.users.upsert("1", "kim", guild_id="99")
    context.users.update("1", {"bio": "hello there", "pronouns": "she/her"}, guild_id="99")
    interaction = _interaction()
    await Users(bot).profile.callback(Users(bot), interaction, None)
    embed = interaction.response.send_message.await_args.kwargs["embed"]
    assert embed.title == "kim"
    assert embed.description == "hello there"
    assert any(f.value == "she/her" for f in embed.fields)


async def test_core_errors_become_one_ephemeral_line(bot: AbbyBot) -> None:
    interaction = _interaction()
    error = app_commands.CommandInvokeError(MagicMock(), UnknownUser("no profile for user 2"))
    await bot.on_app_command_error(interaction, error)
    args, kwargs = interaction.response.send_message.await_args
    assert "no profile for user 2" in args[0]
    assert kwargs["ephemeral"] is True


async def test_unexpected_errors_are_logged_and_answered_generically(
    bot: AbbyBot, context: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    interaction = _interaction()
    interaction.response.is_done = MagicMock(return_value=True)
    error = app_commands.CommandInvokeError(MagicMock(), RuntimeError("secret detail"))
    await bot.on_app_command_error(interaction, error)
    args, kwargs = interaction.followup.send.await_args
    assert "secret detail" not in args[0] and kwargs["ephemeral"] is True
    event = context.events.tail(1)[0]["payload"]
    assert event["error_type"] == "RuntimeError"
    # The member's reference id is in the log line and the ERROR event.
    assert f"ref `{event['reference']}`" in args[0]
    assert f"failed (ref {event['reference']})" in caplog.text


async def test_every_cog_loads(bot: AbbyBot) -> None:
    for extension in COGS:
        await bot.load_extension(extension)
    assert "Users" in bot.cogs


async def test_setup_opens_every_store_off_the_event_loop(
    bot: AbbyBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    opened_on: list[str] = []
    real_init = bot.context.init_schema
    monkeypatch.setattr(
        bot.context,
        "init_schema",
        lambda: (opened_on.append(threading.current_thread().name), real_init())[1],
    )
    monkeypatch.setattr(bot, "sync_commands", AsyncMock())
    await bot.setup_hook()
    bot.heartbeat.cancel()
    assert opened_on and opened_on[0] != threading.main_thread().name
    assert {"Users", "Economy", "Chat"} <= set(bot.cogs)
