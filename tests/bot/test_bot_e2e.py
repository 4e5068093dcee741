"""The real `abby bot run` process against the Discord stand-in: what a member would see.

One bot per backend for the module (`live_bot`); each test uses its own member ids.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.bot.conftest import LiveBot
from tests.support.discord_standin import CHANNEL_IDS, GUILD_ID

pytestmark = pytest.mark.slow
GUILD = str(GUILD_ID)


def _xp(bot: LiveBot, user: int) -> int:
    context = bot.context()
    try:
        return context.xp.get(str(user), guild_id=GUILD).xp
    finally:
        context.close()


def _wait(predicate, timeout: float = 10.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_the_bot_is_ready_quickly_and_synced_every_command(live_bot: LiveBot) -> None:
    assert live_bot.ready_seconds < 30, live_bot.process.stderr()
    assert {
        "rank",
        "pay",
        "balance",
        "profile",
        "privacy",
        "leaderboard",
        "search",
        "ask",
        "imagine",
        "quota",
    } <= set(live_bot.standin.commands)
    identify = live_bot.standin.identified[-1]
    assert identify["intents"] & (1 << 15)  # message content


def test_messages_earn_xp_once_per_cooldown_and_announce_a_level_up(live_bot: LiveBot) -> None:
    member, channel = 6101, CHANNEL_IDS[3]
    context = live_bot.context()
    context.xp.add(str(member), 95, guild_id=GUILD)  # level 1 is at 100 XP
    context.close()
    for _ in range(3):
        live_bot.standin.send_message(user=member, channel=channel, content="hi there")
    _wait(lambda: _xp(live_bot, member) > 95)
    announced = _wait(lambda: live_bot.standin.channel_messages(channel))
    time.sleep(0.5)  # the two other messages had every chance to be granted
    xp = _xp(live_bot, member)
    assert 95 + 15 <= xp <= 95 + 25, "exactly one grant inside the cooldown"
    assert len(live_bot.standin.channel_messages(channel)) == 1
    body = announced[0].payload
    assert f"<@{member}>" in body["content"] and "level 1" in body["content"]
    assert body["allowed_mentions"] == {"parse": [], "users": [member]}


def test_bots_earn_no_xp(live_bot: LiveBot) -> None:
    live_bot.standin.send_message(user=6102, content="beep", bot=True)
    live_bot.standin.send_message(user=6103, content="after the bot")
    _wait(lambda: _xp(live_bot, 6103) > 0)
    assert _xp(live_bot, 6102) == 0


def test_rank_shows_the_members_xp_publicly(live_bot: LiveBot) -> None:
    context = live_bot.context()
    context.xp.add("6201", 4675, guild_id=GUILD)  # level 10 on the MEE6 curve
    context.close()
    reply = live_bot.standin.interact("rank", user=6201).wait_reply()
    assert reply.kind == "callback" and reply.type == 4 and not reply.ephemeral
    card = reply.embeds[0]
    assert "level 10" in card["title"]
    assert {"name": "XP", "value": "4,675", "inline": True} in card["fields"]


def test_sigterm_with_messages_in_flight_exits_0_and_closes_the_gateway_normally(
    start_bot,  # noqa: ANN001
) -> None:
    bot = start_bot()
    burst = [
        ("MESSAGE_CREATE", bot.standin.message_event(user=7000 + n % 50, content="x"))
        for n in range(300)
    ]
    bot.standin.dispatch_many(burst)
    began = time.monotonic()
    code = bot.process.stop(signal.SIGTERM)
    took = time.monotonic() - began
    assert code == 0, bot.process.stderr()
    assert bot.standin.wait_closed() == 1000
    assert took < 5, f"SIGTERM to exit took {took:.2f} s"
    assert "Traceback" not in bot.process.stderr()


def test_sigint_also_stops_cleanly(start_bot) -> None:  # noqa: ANN001
    bot = start_bot()
    assert bot.process.stop(signal.SIGINT) == 0, bot.process.stderr()
    assert bot.standin.wait_closed() == 1000
