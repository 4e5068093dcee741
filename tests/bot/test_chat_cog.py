"""The /ask command: persona, conversation memory and the real OpenAI SDK on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.app import AbbyBot
from bot.cogs.chat import Chat
from core.config import Settings
from core.context import AppContext, use_context
from tests.core.security_support import add_key
from tests.support.openai_server import ChatServer


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


@pytest.fixture
def bot(backend, server: ChatServer) -> Iterator[AbbyBot]:  # noqa: ANN001
    settings: Settings = backend.settings(
        llm={"provider": "openai", "base_url": server.base_url, "api_key": "sk-bot-test-1234"}
    )
    context = AppContext(settings)
    with use_context(context):
        add_key(context)
        yield AbbyBot(context)
    if settings.database.uri is not None:
        context.database.client.drop_database(settings.database.name)
    context.close()


def _interaction(user: int = 1) -> MagicMock:
    interaction = MagicMock(spec=discord.Interaction)
    interaction.guild_id = 99
    interaction.channel_id = 7
    interaction.user = SimpleNamespace(id=user, display_name=f"member{user}")
    interaction.response.defer = AsyncMock()
    interaction.response.is_done = MagicMock(return_value=False)
    shown = MagicMock()
    shown.edit = AsyncMock()
    interaction.edit_original_response = AsyncMock(return_value=shown)
    interaction.followup.send = AsyncMock()
    return interaction


async def test_ask_answers_in_the_persona_voice_and_remembers_the_conversation(
    bot: AbbyBot, server: ChatServer
) -> None:
    cog = Chat(bot)
    first = _interaction()
    await cog.ask.callback(cog, first, "what is XP?", False)
    # The first token shows at once; the whole answer replaces it in the same message.
    first.edit_original_response.assert_awaited_once()
    assert first.edit_original_response.await_args.kwargs["content"] == "echo: …"
    kwargs = first.edit_original_response.return_value.edit.await_args.kwargs
    assert kwargs["content"] == "echo: what is XP?"
    assert kwargs["allowed_mentions"].to_dict() == {"parse": []}
    first.followup.send.assert_not_awaited()  # a short answer is one message
    second = _interaction()
    await cog.ask.callback(cog, second, "and levels?", False)
    messages = server.requests[-1]["body"]["messages"]
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith("You are Abby")
    assert [m["content"] for m in messages[1:]] == [
        "what is XP?",
        "echo: what is XP?",
        "and levels?",
    ]
    history = bot.context.conversations.get_conversation("1", guild_id="99", channel_id="7")
    assert len(history) == 4


async def test_ask_keeps_each_users_conversation_apart(bot: AbbyBot, server: ChatServer) -> None:
    cog = Chat(bot)
    await cog.ask.callback(cog, _interaction(user=1), "secret plan", False)
    await cog.ask.callback(cog, _interaction(user=2), "hello", False)
    contents = [m["content"] for m in server.requests[-1]["body"]["messages"][1:]]
    assert contents == ["hello"]
