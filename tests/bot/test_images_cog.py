"""The images cog: `/imagine` defers and follows up with the stored file; buttons obey only
the member who asked. Slash callbacks are called with a mocked Interaction (dpytest has no
slash-command support); the core, the store and the Stability server behind them are real."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.app import AbbyBot
from bot.cogs.images import NOT_YOURS, Images, ImageView
from bot.render import NO_PINGS
from core.context import AppContext
from core.errors import QuotaExceeded
from tests.support import image_fixtures
from tests.support.stability_server import StabilityServer, error_reply, make_png

OWNER, STRANGER, GUILD = 1111, 2222, 777

stability = image_fixtures.stability
image_context = image_fixtures.image_context


def interaction(user_id: int, *, roles: tuple[str, ...] = ()) -> MagicMock:
    fake = MagicMock(spec=discord.Interaction)
    role_objects = [SimpleNamespace(name=r, is_default=lambda: False) for r in roles]
    fake.user = SimpleNamespace(id=user_id, roles=role_objects)
    fake.guild_id = GUILD
    fake.data = {"component_type": 2, "custom_id": "x"}
    fake.response = MagicMock()
    fake.response.is_done = MagicMock(return_value=False)
    fake.response.defer = AsyncMock()
    fake.response.send_message = AsyncMock()
    fake.response.edit_message = AsyncMock()
    fake.followup = MagicMock()
    fake.followup.send = AsyncMock()
    return fake


@pytest.fixture
async def cog(image_context: AppContext) -> Images:
    bot = AbbyBot(image_context)
    return Images(bot)


async def imagine(cog: Images, who: MagicMock, prompt: str = "a red fox") -> None:
    await cog.imagine.callback(cog, who, prompt, None, None)


async def test_imagine_defers_then_sends_the_stored_image_with_buttons(
    cog: Images,
    image_context: AppContext,
    stability: StabilityServer,
) -> None:
    who = interaction(OWNER, roles=("artist",))
    await imagine(cog, who)
    who.response.defer.assert_awaited_once()
    sent = who.followup.send.await_args.kwargs
    assert sent["file"].fp.read() == make_png()
    assert "4 of 5 left today" in sent["content"]
    assert isinstance(sent["view"], ImageView)
    [record] = image_context.storage.files(str(OWNER), str(GUILD))
    assert sent["view"].file_id == record.file_id
    assert stability.count("/v2beta/stable-image/generate/") == 1


async def test_buttons_refuse_anyone_but_the_invoker(
    cog: Images,
    image_context: AppContext,
    stability: StabilityServer,
) -> None:
    owner = interaction(OWNER)
    await imagine(cog, owner)
    view: ImageView = owner.followup.send.await_args.kwargs["view"]
    for button in (view.upscale, view.delete):
        stranger = interaction(STRANGER)
        await view._scheduled_task(button, stranger)
        stranger.response.send_message.assert_awaited_once_with(
            NOT_YOURS, ephemeral=True, allowed_mentions=NO_PINGS
        )
        stranger.followup.send.assert_not_awaited()
    assert image_context.storage.get(view.file_id)
    assert stability.count("/v2beta/stable-image/upscale/") == 0


async def test_the_invokers_buttons_upscale_and_delete(
    cog: Images,
    image_context: AppContext,
    stability: StabilityServer,
) -> None:
    owner = interaction(OWNER)
    await imagine(cog, owner)
    view: ImageView = owner.followup.send.await_args.kwargs["view"]
    press = interaction(OWNER)
    await view._scheduled_task(view.upscale, press)
    assert stability.count("/v2beta/stable-image/upscale/fast") == 1
    assert press.followup.send.await_args.kwargs["file"].fp.read() == make_png(64, 64)
    press = interaction(OWNER)
    await view._scheduled_task(view.delete, press)
    press.response.edit_message.assert_awaited_once()
    remaining = image_context.storage.files(str(OWNER), str(GUILD))
    assert [r.file_id for r in remaining] != [] and view.file_id not in {
        r.file_id for r in remaining
    }


async def test_a_failed_button_answers_with_an_ephemeral_error(
    cog: Images,
    image_context: AppContext,
    stability: StabilityServer,
) -> None:
    owner = interaction(OWNER)
    await imagine(cog, owner)
    view: ImageView = owner.followup.send.await_args.kwargs["view"]
    stability.queue("/v2beta/stable-image/upscale/fast", error_reply(402, "payment_required"))
    press = interaction(OWNER)
    press.response.is_done = MagicMock(return_value=True)
    await view._scheduled_task(view.upscale, press)
    text = press.followup.send.await_args.args[0]
    assert "credits" in text and press.followup.send.await_args.kwargs["ephemeral"] is True
    assert image_context.quota.get_quota_status(str(OWNER))["daily"]["used"] == 1


async def test_imagine_over_quota_is_refused_before_the_api_and_shown_ephemerally(
    cog: Images,
    image_context: AppContext,
    stability: StabilityServer,
) -> None:
    for _ in range(5):
        image_context.quota.reserve(str(OWNER))
    who = interaction(OWNER)
    with pytest.raises(QuotaExceeded) as caught:
        await imagine(cog, who)
    assert stability.requests == []
    who.response.is_done = MagicMock(return_value=True)
    error = discord.app_commands.CommandInvokeError(cog.imagine, caught.value)
    await cog.bot.on_app_command_error(who, error)
    text = who.followup.send.await_args.args[0]
    assert "daily limit" in text and who.followup.send.await_args.kwargs["ephemeral"] is True


async def test_quota_command_shows_the_callers_limits(cog: Images) -> None:
    who = interaction(OWNER)
    await cog.quota.callback(cog, who)
    card = who.response.send_message.await_args.kwargs["embed"]
    assert any(f.value == "5 of 5 left" for f in card.fields)
    assert who.response.send_message.await_args.kwargs["ephemeral"] is True
