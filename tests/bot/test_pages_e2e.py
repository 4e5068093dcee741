"""`bot.pages.send_pages` through the real discord.py client and the Discord stand-in.

No product command pages yet, so the test gives an in-process `AbbyBot` (built by
`build_bot`, logged in over the stand-in's REST and gateway) one extra slash command of its
own whose pages are the real XP leaderboard, two members a page, read through `run_core`.
Members press the buttons through the stand-in, which dispatches component interactions as
Discord does and refuses presses on disabled buttons.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import discord
import discord.http
import pytest
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.app import AbbyBot, build_bot
from bot.pages import NEXT, PREV, Page, send_pages
from core.config import load_settings
from core.context import AppContext
from tests.support.discord_standin import GUILD_ID, DiscordStandIn, Interaction

GUILD = str(GUILD_ID)
OWNER, OTHER = 4242, 4343
PER_PAGE = 2
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.stand-in.token-not-a-secret"


@dataclass
class Running:
    bot: AbbyBot
    standin: DiscordStandIn
    fetched: list[int]  # the page indexes fetch was asked for
    delays: dict[int, float]  # seconds a page takes to read


@pytest.fixture
async def running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> AsyncIterator[Running]:
    timeout = getattr(request, "param", 180.0)
    with DiscordStandIn() as standin:
        settings = load_settings(
            environ={
                "ABBY_DATA_DIR": str(tmp_path / "data"),
                "ABBY_DISCORD__API_BASE_URL": standin.base_url,
                "ABBY_DISCORD__GATEWAY_URL": standin.gateway_url,
            }
        )
        context = AppContext(settings)
        for n in range(5):  # five members: pages of 2, 2 and 1
            context.xp.add(str(5000 + n), 100 * (n + 1), guild_id=GUILD)
        # build_bot points discord.py's class attributes at the stand-in: undo after.
        monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
        monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
        bot = build_bot(context)
        assert isinstance(bot, AbbyBot)
        fetched: list[int] = []
        delays: dict[int, float] = {}

        async def fetch(index: int) -> Page:
            fetched.append(index)
            await asyncio.sleep(delays.get(index, 0.0))
            rows = await bot.run_core(
                context.xp.leaderboard, guild_id=GUILD, limit=PER_PAGE + 1, offset=index * PER_PAGE
            )
            lines = [f"#{r.rank} <@{r.user_id}> {r.xp} XP" for r in rows[:PER_PAGE]]
            embed = discord.Embed(
                title=f"Leaderboard, page {index + 1}", description="\n".join(lines)
            )
            return Page(embed, has_next=len(rows) > PER_PAGE)

        async def pages_test(interaction: discord.Interaction) -> None:
            await send_pages(interaction, fetch, timeout=timeout)

        bot.tree.add_command(
            app_commands.Command(name="pages-test", description="pages", callback=pages_test)
        )
        await bot.login(TOKEN)  # setup_hook: cogs loaded, the tree (with pages-test) synced
        task = asyncio.create_task(bot.connect(reconnect=False))
        try:
            await asyncio.wait_for(bot.wait_until_ready(), 60)
            yield Running(bot, standin, fetched, delays)
        finally:
            await bot.close()
            await asyncio.gather(task, return_exceptions=True)
            context.close()


async def _open(running: Running) -> tuple[Interaction, str]:
    command = running.standin.interact("pages-test", user=OWNER)
    reply = await asyncio.to_thread(command.wait_reply)
    assert reply.message_id is not None
    return command, reply.message_id


async def _press(
    running: Running, message_id: str, custom_id: str, user: int = OWNER
) -> Interaction:
    press = await asyncio.to_thread(running.standin.press, message_id, custom_id, user=user)
    await asyncio.to_thread(press.wait_reply)
    return press


def _shown(running: Running, message_id: str) -> tuple[str, dict[str, bool]]:
    """The page title and which buttons are enabled, as a member sees the message."""
    state = running.standin.sent_message(message_id)
    [row] = state["components"]
    enabled = {b["custom_id"]: not b.get("disabled", False) for b in row["components"]}
    return state["embeds"][0]["title"], enabled


async def test_pages_turn_for_the_invoker_and_buttons_disable_at_the_ends(running: Running) -> None:
    _, message = await _open(running)
    assert _shown(running, message) == ("Leaderboard, page 1", {PREV: False, NEXT: True})
    assert "<@5004> 500 XP" in running.standin.sent_message(message)["embeds"][0]["description"]

    turned = await _press(running, message, NEXT)
    assert turned.replies[0].type == 7 and turned.replies[0].message_id == message
    assert _shown(running, message) == ("Leaderboard, page 2", {PREV: True, NEXT: True})

    await _press(running, message, NEXT)
    title, enabled = _shown(running, message)
    assert title == "Leaderboard, page 3" and enabled == {PREV: True, NEXT: False}
    assert "<@5000> 100 XP" in running.standin.sent_message(message)["embeds"][0]["description"]
    with pytest.raises(PermissionError, match="disabled"):  # Discord offers no Next at the end
        running.standin.press(message, NEXT, user=OWNER)

    await _press(running, message, PREV)
    assert _shown(running, message) == ("Leaderboard, page 2", {PREV: True, NEXT: True})
    assert running.fetched == [0, 1, 2, 1]  # each page read when shown


async def test_a_press_by_another_member_is_refused_privately_and_the_page_stays(
    running: Running,
) -> None:
    _, message = await _open(running)
    press = await _press(running, message, NEXT, user=OTHER)
    reply = press.replies[0]
    assert reply.ephemeral and reply.type == 4, reply
    assert reply.content == f"⚠️ Only <@{OWNER}> can turn these pages."
    assert reply.payload["data"]["allowed_mentions"] == {"parse": []}  # names, never pings
    assert _shown(running, message) == ("Leaderboard, page 1", {PREV: False, NEXT: True})
    assert running.standin.edits(message) == []
    assert running.fetched == [0]


@pytest.mark.slow
@pytest.mark.parametrize("running", [1.0], indirect=True)
async def test_the_buttons_are_disabled_when_the_view_times_out(running: Running) -> None:
    command, message = await _open(running)
    await asyncio.to_thread(
        running.standin.wait_for,
        lambda: running.standin.edits(message),
        10,
        "the timeout's edit",
    )
    assert _shown(running, message) == ("Leaderboard, page 1", {PREV: False, NEXT: False})
    assert any(r.kind == "edit" for r in command.replies)  # through the interaction's token
    with pytest.raises(PermissionError, match="disabled"):
        running.standin.press(message, NEXT, user=OWNER)


@pytest.mark.slow
async def test_a_slow_page_is_deferred_within_three_seconds_then_edited_in(
    running: Running,
) -> None:
    _, message = await _open(running)
    running.delays[1] = 2.5  # longer than Discord waits for an answer to a press
    press = await _press(running, message, NEXT)
    first = press.replies[0]
    assert first.type == 6 and first.at - press.sent_at < 3.0, first
    await asyncio.to_thread(
        running.standin.wait_for, lambda: len(press.replies) > 1, 10, "the page's edit"
    )
    assert press.replies[1].kind == "edit" and press.replies[1].message_id == message
    assert _shown(running, message) == ("Leaderboard, page 2", {PREV: True, NEXT: True})
