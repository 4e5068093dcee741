"""The Discord stand-in with real discord.py on the other side.

- the real `abby bot run` process: a press on a button of a message it sent reaches its View
  (the message objects the stand-in returned carried the components), and the edit it
  answers with is what members then see;
- real discord.py HTTP clients: an edit over the per-channel limit gets Discord's 429, which
  discord.py waits out and retries, so no edit is lost and none lands early.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import discord
import discord.http
import pytest

from bot.cogs.images import KEPT
from tests.bot.conftest import LiveBot
from tests.support.discord_standin import CHANNEL_IDS, GUILD_ID, DiscordStandIn
from tests.support.image_fixtures import FAST_IMAGES
from tests.support.stability_server import StabilityServer, make_png

pytestmark = pytest.mark.slow
OWNER = 7601


@pytest.fixture
def stability() -> Iterator[StabilityServer]:
    server = StabilityServer()
    server.start()
    yield server
    server.stop()


def test_a_press_reaches_the_real_bots_view_and_its_edit_is_what_members_see(
    start_bot: Callable[..., LiveBot],
    stability: StabilityServer,
) -> None:
    env = {"ABBY_IMAGES__BASE_URL": stability.url}
    env.update({f"ABBY_IMAGES__{k.upper()}": str(v) for k, v in FAST_IMAGES.items()})
    bot: LiveBot = start_bot(env)
    standin = bot.standin
    reply = standin.interact("imagine", {"prompt": "a red fox"}, user=OWNER).wait_reply(30)
    message = standin.sent_message(reply.message_id)
    assert message["attachments"][0]["data"] == make_png()
    [row] = message["components"]
    keep = next(b["custom_id"] for b in row["components"] if ":keep:" in b["custom_id"])

    press = standin.press(reply.message_id, keep, user=OWNER)
    answer = press.wait_reply(10)
    assert answer.type == 7 and answer.message_id == reply.message_id
    assert answer.at - press.sent_at < 3.0
    now = standin.sent_message(reply.message_id)
    [button] = [b for b in now["components"][0]["components"] if b["custom_id"] == keep]
    assert button["disabled"] is True and button["label"] == "Kept"
    assert now["attachments"] == message["attachments"]  # an edit without files keeps them
    assert len(standin.edits(reply.message_id)) == 1
    standin.wait_for(lambda: len(press.replies) > 1, 10, "the private kept line")
    assert press.replies[1].ephemeral and press.replies[1].content == KEPT
    with pytest.raises(PermissionError, match="disabled"):  # members cannot press it again
        standin.press(reply.message_id, keep, user=OWNER)


@pytest.mark.slow
async def test_an_edit_over_the_channel_limit_is_waited_out_and_retried_by_discord_py(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two clients (two bot processes) edit one channel: the second one cannot know the
    first used the window, gets the 429, sleeps retry_after and lands its edit after it."""
    with DiscordStandIn() as standin:
        monkeypatch.setattr(discord.http.Route, "BASE", standin.base_url)
        first, second = (discord.Client(intents=discord.Intents.none()) for _ in range(2))
        for client in (first, second):
            await client.login("stand-in-token")
        try:
            channel = first.get_partial_messageable(CHANNEL_IDS[0], guild_id=GUILD_ID)
            sent = await channel.send("v", allowed_mentions=discord.AllowedMentions.none())
            began = time.monotonic()

            async def five_edits() -> None:
                for n in range(5):
                    await sent.edit(
                        content=f"first {n}", allowed_mentions=discord.AllowedMentions.none()
                    )

            # discord.py holds a call back while its bucket is empty: the second client edits
            # as soon as the fifth edit landed, before the first one would send anything more.
            editing = asyncio.create_task(five_edits())
            while len(standin.edits(sent.id)) < 5:
                await asyncio.sleep(0.005)
            other = second.get_partial_messageable(CHANNEL_IDS[0], guild_id=GUILD_ID)
            await other.get_partial_message(sent.id).edit(
                content="second", allowed_mentions=discord.AllowedMentions.none()
            )
            await editing
        finally:
            await asyncio.gather(first.close(), second.close())
        assert len(standin.rate_limited) == 1, standin.rate_limited
        [(_, retry_after)] = standin.rate_limited
        times = [at for at, _ in standin.edits(sent.id)]
        assert len(times) == 6 and times[5] - times[0] >= 5.0 - 0.05
        assert times[5] - began >= retry_after
        assert standin.sent_message(sent.id)["content"] == "second"
