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
from tests.conftest import BACKENDS
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


@pytest.mark.parametrize("backend", BACKENDS)
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


def _buttons(bot: LiveBot, message_id: str) -> dict[str, dict]:
    message = bot.standin.sent_message(message_id)
    return {
        c["custom_id"]: c
        for row in message["components"]
        for c in row["components"]
        if c.get("custom_id")
    }


def test_transactions_pages_turn_newest_first_without_pinging(live_bot: LiveBot) -> None:
    context = live_bot.context()
    for n in range(1, 12):
        context.bank.add("7301", n, guild_id=GUILD, reason=f"gift {n}")
    context.bank.transfer("7301", "7302", 5, guild_id=GUILD, reason="lunch @everyone <@&123>")
    context.close()
    reply = live_bot.standin.interact("transactions", user=7301).wait_reply(10)
    assert reply.ephemeral
    assert reply.payload["data"]["allowed_mentions"] == {"parse": []}
    lines = reply.embeds[0]["description"].splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("**-5** coins · <@7302> · lunch @\u200beveryone")
    assert "<t:" in lines[0]
    assert "@everyone" not in reply.embeds[0]["description"]
    assert "gift 11 " in lines[1] and "gift 3 " in lines[9]
    buttons = _buttons(live_bot, reply.message_id)
    assert buttons["pages:prev"]["disabled"] and not buttons["pages:next"].get("disabled")
    turn = live_bot.standin.press(reply.message_id, "pages:next", user=7301)
    turn.wait_reply(10)
    page = live_bot.standin.sent_message(reply.message_id)
    second = page["embeds"][0]["description"].splitlines()
    assert len(second) == 2 and "gift 2 " in second[0] and "gift 1 " in second[1]
    assert _buttons(live_bot, reply.message_id)["pages:next"]["disabled"]
    back = live_bot.standin.press(reply.message_id, "pages:prev", user=7301)
    back.wait_reply(10)
    first_again = live_bot.standin.sent_message(reply.message_id)["embeds"][0]["description"]
    assert first_again.splitlines()[0] == lines[0]


def test_transactions_of_a_new_member_is_an_empty_private_page(live_bot: LiveBot) -> None:
    reply = live_bot.standin.interact("transactions", user=7311).wait_reply(10)
    assert reply.ephemeral and "No transactions yet" in reply.embeds[0]["description"]
    buttons = _buttons(live_bot, reply.message_id)
    assert buttons["pages:prev"]["disabled"] and buttons["pages:next"]["disabled"]


def test_baltop_pages_the_guilds_balances_and_only_its_invoker_turns_them(
    live_bot: LiveBot,
) -> None:
    context = live_bot.context()
    for n in range(12):  # far above every other test's balances in this store
        context.bank.add(str(7400 + n), 10**12 + n, guild_id=GUILD, reason="seed")
    context.close()
    reply = live_bot.standin.interact("baltop", user=7499).wait_reply(10)
    assert not reply.ephemeral
    assert reply.payload["data"]["allowed_mentions"] == {"parse": []}
    lines = reply.embeds[0]["description"].splitlines()
    assert lines[0] == "**#1** <@7411> · 1,000,000,000,011 coins"
    assert len(lines) == 10 and lines[9].startswith("**#10** <@7402>")
    stranger = live_bot.standin.press(reply.message_id, "pages:next", user=7400)
    refusal = stranger.wait_reply(10)
    assert refusal.ephemeral and "Only <@7499> can turn these pages" in refusal.content
    assert live_bot.standin.sent_message(reply.message_id)["embeds"][0]["description"].startswith(
        "**#1** "
    )
    live_bot.standin.press(reply.message_id, "pages:next", user=7499).wait_reply(10)
    second = live_bot.standin.sent_message(reply.message_id)["embeds"][0]["description"]
    assert second.splitlines()[:2] == [
        "**#11** <@7401> · 1,000,000,000,001 coins",
        "**#12** <@7400> · 1,000,000,000,000 coins",
    ]
