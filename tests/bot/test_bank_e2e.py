"""The bank people use, through the real bot process and the Discord stand-in, both backends:
/daily pays once per UTC day (also with two bot processes on one store), /pay to a bot is a
private refusal, /transactions and /baltop page with buttons."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.bot.conftest import LiveBot
from tests.support.discord_standin import GUILD_ID, Interaction

pytestmark = pytest.mark.slow
GUILD = str(GUILD_ID)
DAILY = 100  # bank.daily_amount's default


def _balance(bot: LiveBot, user: str) -> int:
    context = bot.context()
    try:
        return context.bank.balance(user, guild_id=GUILD).balance
    finally:
        context.close()


def _next_midnight() -> int:
    today = datetime.now(UTC).date()
    return int(datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC).timestamp())


def _opens_at(text: str) -> int:
    found = re.search(r"<t:(\d+):R>", text)
    assert found, f"no Discord relative timestamp in {text!r}"
    return int(found[1])


def _private(interaction: Interaction) -> str:
    reply = interaction.wait_reply(20)
    assert reply.ephemeral, f"members would all see: {reply.content!r}"
    return reply.content


def test_daily_twice_pays_once_and_says_when_the_next_opens(live_bot: LiveBot) -> None:
    first = _private(live_bot.standin.interact("daily", user=7101))
    assert f"You claimed {DAILY} coins" in first
    again = _private(live_bot.standin.interact("daily", user=7101))
    assert "already claimed" in again
    assert _opens_at(again) == _next_midnight()
    assert _balance(live_bot, "7101") == DAILY


def test_pay_to_a_bot_is_a_private_line_and_nothing_moves(live_bot: LiveBot) -> None:
    context = live_bot.context()
    context.bank.add("7111", 30, guild_id=GUILD, reason="seed")
    context.close()
    interaction = live_bot.standin.interact(
        "pay", {"member": 7119, "amount": 10}, user=7111, members={7119: {"bot": True}}
    )
    line = _private(interaction)
    assert line.startswith("⚠️") and "bots cannot hold currency" in line
    assert len(line.splitlines()) == 1
    assert (_balance(live_bot, "7111"), _balance(live_bot, "7119")) == (30, 0)


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
def test_two_bot_processes_receiving_daily_for_one_member_pay_once(
    start_bot: Callable[..., LiveBot], backend: str
) -> None:
    first = start_bot(backend=backend)
    # The second process opens the same store: same data dir, same MongoDB database.
    shared = {k: v for k, v in first.env.items() if k == "ABBY_DATABASE__NAME"}
    second = start_bot(env=shared, backend=backend)
    member = 7201
    answers: list[Interaction] = []
    ready = threading.Barrier(2)

    def claim(bot: LiveBot) -> None:
        ready.wait()
        answers.append(bot.standin.interact("daily", user=member))

    threads = [threading.Thread(target=claim, args=(bot,)) for bot in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    texts = sorted(_private(a) for a in answers)
    assert [f"You claimed {DAILY}" in t for t in texts].count(True) == 1, texts
    refused = next(t for t in texts if "already claimed" in t)
    assert _opens_at(refused) == _next_midnight()
    assert _balance(first, str(member)) == DAILY
    context = first.context()
    try:
        entries = context.bank.history(str(member), guild_id=GUILD)
        assert [(e.amount, e.reason) for e in entries] == [(DAILY, "daily")]
        assert context.bank.audit().ok
    finally:
        context.close()
