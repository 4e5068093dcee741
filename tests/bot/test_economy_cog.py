"""The economy cog: message XP through the listener, slash commands through their callbacks
with a mocked Interaction (dpytest has no slash-command support), on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.app import AbbyBot
from bot.cogs.bank import Bank
from bot.cogs.economy import Economy
from core.context import AppContext
from core.errors import InsufficientFunds

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def cog(context: AppContext) -> Economy:
    bot = AbbyBot(context)
    return Economy(bot)


@pytest.fixture
async def bank_cog(context: AppContext) -> Bank:
    return Bank(AbbyBot(context))


def _message(user: int = 1, *, channel: int = 10, roles: tuple[int, ...] = (), at=START, bot=False):  # noqa: ANN001, ANN202
    author = SimpleNamespace(
        id=user, bot=bot, mention=f"<@{user}>", roles=[SimpleNamespace(id=r) for r in roles]
    )
    return SimpleNamespace(
        author=author,
        guild=SimpleNamespace(id=99),
        channel=SimpleNamespace(id=channel, send=AsyncMock()),
        created_at=at,
    )


def _interaction(user: int = 1, guild: int | None = 99, interaction_id: int = 5000) -> MagicMock:
    interaction = MagicMock(spec=discord.Interaction)
    interaction.id = interaction_id
    interaction.guild_id = guild
    interaction.user = SimpleNamespace(id=user, display_name=f"user{user}", mention=f"<@{user}>")
    interaction.response.send_message = AsyncMock()
    return interaction


def _member(user: int, *, bot: bool = False) -> SimpleNamespace:
    return SimpleNamespace(id=user, display_name=f"user{user}", mention=f"<@{user}>", bot=bot)


async def test_messages_earn_xp_once_per_cooldown(cog: Economy, context: AppContext) -> None:
    await cog.on_message(_message())
    first = context.xp.get("1", guild_id="99").xp
    assert 15 <= first <= 25
    await cog.on_message(_message(at=START + timedelta(seconds=30)))
    assert context.xp.get("1", guild_id="99").xp == first
    await cog.on_message(_message(at=START + timedelta(seconds=61)))
    assert context.xp.get("1", guild_id="99").xp > first


async def test_bots_ignored_channels_and_roles_earn_nothing(
    cog: Economy, context: AppContext
) -> None:
    context.xp.update_settings({"ignored_channels": ["11"], "ignored_roles": ["7"]}, guild_id="99")
    await cog.on_message(_message(user=2, bot=True))
    await cog.on_message(_message(user=3, channel=11))
    await cog.on_message(_message(user=4, roles=(6, 7)))
    assert context.xp.leaderboard(guild_id="99") == []
    await cog.on_message(_message(user=5, roles=(6,)))
    assert [r.user_id for r in context.xp.leaderboard(guild_id="99")] == ["5"]


async def test_a_level_up_is_announced_in_the_channel(cog: Economy, context: AppContext) -> None:
    context.xp.add("1", 95, guild_id="99")
    message = _message()
    await cog.on_message(message)
    message.channel.send.assert_awaited_once()
    assert "level 1" in message.channel.send.await_args.args[0]
    quiet = _message(at=START + timedelta(minutes=5))
    await cog.on_message(quiet)
    quiet.channel.send.assert_not_awaited()


async def test_announcements_can_be_switched_off(cog: Economy, context: AppContext) -> None:
    context.xp.update_settings({"announce_level_ups": False}, guild_id="99")
    context.xp.add("1", 95, guild_id="99")
    message = _message()
    await cog.on_message(message)
    message.channel.send.assert_not_awaited()
    assert context.xp.get("1", guild_id="99").level == 1


async def test_rank_shows_level_xp_and_rank(cog: Economy, context: AppContext) -> None:
    context.xp.add("1", 4_675, guild_id="99")
    context.xp.add("2", 5_000, guild_id="99")
    interaction = _interaction(user=1)
    await cog.rank.callback(cog, interaction)
    card = interaction.response.send_message.await_args.kwargs["embed"]
    assert "level 10" in card.title
    assert {f.name: f.value for f in card.fields}["Rank"] == "#2"


async def test_leaderboard_lists_the_top_members(cog: Economy, context: AppContext) -> None:
    for user, xp in (("1", 10), ("2", 30)):
        context.xp.add(user, xp, guild_id="99")
    interaction = _interaction()
    interaction.response.is_done.return_value = False
    await cog.leaderboard.callback(cog, interaction, limit=5)
    sent = interaction.response.send_message.await_args.kwargs
    assert sent["embed"].description.index("<@2>") < sent["embed"].description.index("<@1>")
    # One page: both buttons disabled (pages turning is tested end to end).
    assert [b.disabled for b in sent["view"].children] == [True, True]


async def test_balance_and_pay_move_money_once_per_interaction(
    bank_cog: Bank, context: AppContext
) -> None:
    cog = bank_cog
    context.bank.add("1", 100, guild_id="99")
    pay = _interaction(user=1, interaction_id=777)
    await cog.pay.callback(cog, pay, member=_member(2), amount=40, reason="thanks")
    await cog.pay.callback(cog, pay, member=_member(2), amount=40, reason="thanks")  # redelivered
    assert context.bank.balance("2", guild_id="99").balance == 40
    asked = _interaction(user=2)
    await cog.balance.callback(cog, asked)
    assert "40 coins" in asked.response.send_message.await_args.args[0]


async def test_pay_without_funds_raises_for_the_error_handler_and_changes_nothing(
    bank_cog: Bank, context: AppContext
) -> None:
    cog = bank_cog
    with pytest.raises(InsufficientFunds):
        await cog.pay.callback(cog, _interaction(user=1), member=_member(2), amount=5)
    assert context.bank.balance("2", guild_id="99").balance == 0
    interaction = _interaction(user=1)
    interaction.response.is_done = MagicMock(return_value=False)
    error = MagicMock(original=InsufficientFunds("1 has less than 5 in guild 99"))
    await cog.bot.on_app_command_error(interaction, error)
    reply = interaction.response.send_message.await_args
    assert "less than 5" in reply.args[0] and reply.kwargs["ephemeral"] is True
