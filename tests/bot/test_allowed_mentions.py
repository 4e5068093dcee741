"""Issue #9, finding 3: nothing the bot sends may ping @everyone, @here, a role or a stranger.

The bot logs in to a Discord REST stand-in on 127.0.0.1 with the real discord.py client and
answers real `discord.Interaction` objects built from gateway payloads, so the assertions are
on the JSON that would reach Discord (`allowed_mentions` after discord.py merged the call's
value with the bot's default), not on mock call arguments. The core behind it is real too:
SQLite, Chroma with the local embedding model, the OpenAI SDK against a chat server and the
image client against a Stability server, all on 127.0.0.1.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import discord.http
import pytest

from bot.app import AbbyBot
from core.config import load_settings
from core.context import AppContext, use_context
from core.errors import UnknownUser
from core.scope import Scope
from tests.core.security_support import add_key
from tests.support.discord_standin import APPLICATION_ID, DiscordStandIn, Recorded
from tests.support.image_fixtures import FAST_IMAGES
from tests.support.openai_server import ChatServer
from tests.support.stability_server import StabilityServer

GUILD, CHANNEL, MEMBER, FRIEND = 99, 700, 4242, 4343
# The brief's short ids and real-length snowflakes (only those does escape_mentions touch).
PINGS = "@everyone @here <@&123> <@456> <@&123456789012345678> <@234567890123456789>"
NOBODY = {"parse": []}
_ids = itertools.count(920000000000000000)


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[DiscordStandIn]:
    with DiscordStandIn() as running:
        monkeypatch.setattr(discord.http.Route, "BASE", running.base_url)
        yield running


@pytest.fixture
def servers() -> Iterator[tuple[ChatServer, StabilityServer]]:
    stability = StabilityServer()
    stability.start()
    with ChatServer() as chat:
        yield chat, stability
    stability.stop()


@pytest.fixture
def context(tmp_path: Path, servers: tuple[ChatServer, StabilityServer]) -> Iterator[AppContext]:
    chat, stability = servers
    settings = load_settings(
        environ={"ABBY_DATA_DIR": str(tmp_path / "data")},
        overrides={
            "llm": {"provider": "openai", "base_url": chat.base_url, "api_key": "sk-bot-test-1"},
            "images": {**FAST_IMAGES, "base_url": stability.url},
        },
    )
    ctx = AppContext(settings)
    with use_context(ctx):
        add_key(ctx)
        yield ctx
    ctx.close()


@pytest.fixture
async def bot(context: AppContext, standin: DiscordStandIn) -> AsyncIterator[AbbyBot]:
    """The bot logged in to the stand-in: cogs loaded and commands synced by setup_hook."""
    running = AbbyBot(context)
    await running.login("stand-in-token")
    running.heartbeat.cancel()
    yield running
    await running.close()


def _user(user_id: int) -> dict[str, Any]:
    return {"id": str(user_id), "username": f"m{user_id}", "discriminator": "0", "avatar": None}


def _member(user_id: int) -> dict[str, Any]:
    return {
        "user": _user(user_id),
        "roles": [],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": "0",
    }


def interaction(bot: AbbyBot, user_id: int = MEMBER, **extra: Any) -> discord.Interaction:
    """A real Interaction as the gateway would deliver it, bound to the bot's state."""
    data = {
        "id": str(next(_ids)),
        "type": 2,
        "token": f"token-{next(_ids)}",
        "version": 1,
        "application_id": str(APPLICATION_ID),
        "attachment_size_limit": 8 * 1024 * 1024,
        "guild_id": str(GUILD),
        "channel_id": str(CHANNEL),
        "member": _member(user_id),
        "data": {"id": "1", "name": "x", "type": 1},
        "locale": "en-US",
        **extra,
    }
    return discord.Interaction(data=data, state=bot._connection)


def a_member(bot: AbbyBot, user_id: int) -> discord.Member:
    guild = bot._connection._get_or_create_unavailable_guild(GUILD)
    return discord.Member(state=bot._connection, guild=guild, data=_member(user_id))


def body(recorded: Recorded) -> dict[str, Any]:
    """A message request's message: an interaction callback wraps it in "data"."""
    assert isinstance(recorded.payload, dict)
    if "/callback" in recorded.path:
        return recorded.payload.get("data", {})
    return recorded.payload


def sent(standin: DiscordStandIn) -> list[dict[str, Any]]:
    """Every message the bot sent or edited (defers carry no message and are left out)."""
    return [
        b for b in map(body, standin.messages()) if {"content", "embeds", "attachments"} & b.keys()
    ]


async def test_an_ask_reply_carrying_mentions_pings_nobody(
    bot: AbbyBot, standin: DiscordStandIn
) -> None:
    chat = bot.get_cog("Chat")
    await chat.ask.callback(chat, interaction(bot), f"say {PINGS}", False)
    *streamed, reply = sent(standin)  # the answer streams in edits of one message
    assert all(r["allowed_mentions"] == NOBODY for r in [*streamed, reply]), streamed
    assert "echo: say" in reply["content"]
    assert "@everyone" not in reply["content"] and "@here" not in reply["content"]
    assert "<@&123456789012345678>" not in reply["content"]


async def test_an_ask_grounded_in_a_planted_document_pings_nobody(
    bot: AbbyBot, standin: DiscordStandIn, context: AppContext
) -> None:
    context.rag.ingest_text("planted", "Welcome", f"Welcome to the server! {PINGS}")
    chat = bot.get_cog("Chat")
    await chat.ask.callback(chat, interaction(bot), "welcome to the server", True)
    *streamed, reply = sent(standin)
    assert "Welcome to the server!" in reply["content"], reply  # the document was used
    assert all(r["allowed_mentions"] == NOBODY for r in [*streamed, reply])


async def test_search_snippets_carrying_mentions_ping_nobody(
    bot: AbbyBot, standin: DiscordStandIn, context: AppContext
) -> None:
    context.rag.ingest_text("planted", "Rules", f"Read the rules first. {PINGS}", guild_id="99")
    rag = bot.get_cog("Rag")
    await rag.search.callback(rag, interaction(bot), f"rules {PINGS}", 3)
    [reply] = sent(standin)
    assert reply["allowed_mentions"] == NOBODY, reply
    [card] = reply["embeds"]
    snippet = card["fields"][0]["value"]
    assert "Read the rules first." in snippet
    assert "@everyone" not in snippet and "@everyone" not in card["title"]


async def test_the_bots_default_pings_nobody_when_a_send_names_no_mentions(
    bot: AbbyBot, standin: DiscordStandIn
) -> None:
    """A future send that forgets `allowed_mentions` still parses nothing."""
    await bot.get_partial_messageable(CHANNEL, guild_id=GUILD).send(PINGS)
    [message] = sent(standin)
    assert message["allowed_mentions"] == NOBODY


async def test_every_reply_of_every_cog_pings_at_most_the_member_it_addresses(
    bot: AbbyBot, standin: DiscordStandIn, context: AppContext
) -> None:
    users, economy, images = bot.get_cog("Users"), bot.get_cog("Economy"), bot.get_cog("Images")
    bank = bot.get_cog("Bank")
    context.users.upsert(str(MEMBER), "kim", guild_id="99")
    context.users.update(str(MEMBER), {"bio": f"hi {PINGS}"}, guild_id="99")
    context.bank.add(str(MEMBER), 100, guild_id="99")
    context.xp.add(str(MEMBER), 95, guild_id="99")
    friend = a_member(bot, FRIEND)

    await users.profile.callback(users, interaction(bot), None)
    await economy.rank.callback(economy, interaction(bot), None)
    await economy.leaderboard.callback(economy, interaction(bot), 10)
    await bank.balance.callback(bank, interaction(bot), None)
    await bank.pay.callback(bank, interaction(bot), friend, 10, PINGS)
    author = a_member(bot, MEMBER)
    channel = bot.get_partial_messageable(CHANNEL, guild_id=GUILD)
    message = SimpleNamespace(
        author=author,
        guild=SimpleNamespace(id=GUILD),
        channel=channel,
        created_at=discord.utils.utcnow(),
    )
    await economy.on_message(message)  # 95 + at least 15 XP: a level-up announcement
    await images.imagine.callback(images, interaction(bot), f"a fox {PINGS}", None, None)
    await images.quota.callback(images, interaction(bot))
    [imagine_reply] = [b for b in sent(standin) if b.get("attachments")]
    file_id = imagine_reply["attachments"][0]["filename"]
    assert file_id.startswith("abby-")
    [record] = context.storage.files(str(MEMBER), Scope.of(str(GUILD)))
    press = {"type": 3, "data": {"component_type": 2, "custom_id": "x"}}
    await images.press(interaction(bot, FRIEND, **press), "delete", record.file_id)  # refused
    await images.press(interaction(bot, MEMBER, **press), "delete", record.file_id)
    failed = interaction(bot)
    await bot.on_app_command_error(
        failed, discord.app_commands.CommandInvokeError(users.profile, UnknownUser(PINGS))
    )

    messages = sent(standin)
    assert len(messages) == 11, messages  # one per reply above, the level-up included
    addressed = {str(FRIEND), str(MEMBER)}
    for message in messages:
        mentions = message.get("allowed_mentions")
        assert mentions is not None, message
        assert mentions["parse"] == [], message
        assert not mentions.get("roles") and not mentions.get("replied_user"), message
        assert {str(u) for u in mentions.get("users", [])} <= addressed, message
    pinged = [m for m in messages if m["allowed_mentions"].get("users")]
    assert [m["allowed_mentions"]["users"] for m in pinged] == [[FRIEND], [MEMBER]]
    assert "paid" in pinged[0]["content"] and "reached level" in pinged[1]["content"]
    profile = next(m for m in messages if m.get("embeds") and m["embeds"][0]["title"] == "kim")
    assert "@everyone" not in profile["embeds"][0]["description"]


SEND_METHODS = {"send", "send_message", "edit_message", "reply", "edit", "edit_original_response"}


def test_every_send_call_in_the_bot_states_allowed_mentions() -> None:
    """Read every module of bot/: each send, reply or edit names `allowed_mentions`."""
    root = Path(__file__).resolve().parents[2] / "bot"
    missing = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SEND_METHODS
                and not any(k.arg == "allowed_mentions" for k in node.keywords)
            ):
                missing.append(f"{path.relative_to(root.parent)}:{node.lineno} .{node.func.attr}")
    assert missing == [], missing
    assert len(list(root.rglob("*.py"))) >= 8  # the walk saw the cogs
