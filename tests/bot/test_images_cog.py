"""The images cog: `/imagine` defers and follows up with the stored file; buttons obey only
the member who asked. Slash callbacks are called with a mocked Interaction (dpytest has no
slash-command support); the core, the store and the Stability server behind them are real."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.app import AbbyBot
from bot.cogs.images import DELETED, GONE, KEPT, NOT_YOURS, ImageButton, Images
from bot.render import NO_PINGS
from core.context import AppContext
from core.errors import QuotaExceeded
from core.scope import Scope
from tests.support import image_fixtures
from tests.support.stability_server import StabilityServer, error_reply, make_png

OWNER, STRANGER, GUILD = 1111, 2222, 777

stability = image_fixtures.stability
image_context = image_fixtures.image_context


def interaction(user_id: int, *, roles: tuple[str, ...] = ()) -> MagicMock:
    fake = MagicMock(spec=discord.Interaction)
    role_objects = [SimpleNamespace(id=int(r), is_default=lambda: False) for r in roles]
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
    who = interaction(OWNER, roles=("5003",))
    await imagine(cog, who)
    who.response.defer.assert_awaited_once()
    sent = who.followup.send.await_args.kwargs
    assert sent["file"].fp.read() == make_png()
    assert "4 of 5 left today" in sent["content"]
    [record] = image_context.storage.files(str(OWNER), Scope.of(str(GUILD)))
    buttons = sent["view"].children
    assert [b.action for b in buttons] == ["regen", "vary", "upscale", "keep", "delete"]
    assert {b.file_id for b in buttons} == {record.file_id}
    assert stability.count("/v2beta/stable-image/generate/") == 1


def _file_id(owner: MagicMock) -> str:
    return owner.followup.send.await_args.kwargs["view"].children[0].file_id


@pytest.mark.parametrize("action", ["regen", "vary", "upscale", "keep", "delete"])
async def test_buttons_refuse_anyone_but_the_owner_and_charge_nothing(
    cog: Images,
    image_context: AppContext,
    stability: StabilityServer,
    action: str,
) -> None:
    owner = interaction(OWNER)
    await imagine(cog, owner)
    file_id = _file_id(owner)
    stranger = interaction(STRANGER)
    await cog.press(stranger, action, file_id)
    stranger.response.send_message.assert_awaited_once_with(
        NOT_YOURS, ephemeral=True, allowed_mentions=NO_PINGS
    )
    stranger.response.defer.assert_not_awaited()
    stranger.followup.send.assert_not_awaited()
    record = image_context.storage.get(file_id)
    assert record.kept is False and len(stability.requests) == 1
    assert image_context.quota.get_quota_status(str(STRANGER))["daily"]["used"] == 0
    assert image_context.quota.get_quota_status(str(OWNER))["daily"]["used"] == 1


async def test_the_owners_buttons_upscale_keep_and_delete(
    cog: Images,
    image_context: AppContext,
    stability: StabilityServer,
) -> None:
    owner = interaction(OWNER)
    await imagine(cog, owner)
    file_id = _file_id(owner)
    press = interaction(OWNER)
    await cog.press(press, "upscale", file_id)
    assert stability.count("/v2beta/stable-image/upscale/fast") == 1
    sent = press.followup.send.await_args.kwargs
    assert sent["file"].fp.read() == make_png(64, 64)
    assert sent["view"].children[0].file_id != file_id  # the upscale has its own buttons
    press = interaction(OWNER)
    await cog.press(press, "keep", file_id)
    keep = press.response.edit_message.await_args.kwargs["view"].children[3]
    assert keep.item.disabled and keep.item.label == "Kept"
    assert press.followup.send.await_args.args == (KEPT,)
    assert image_context.storage.get(file_id).kept is True
    press = interaction(OWNER)
    await cog.press(press, "delete", file_id)
    edit = press.response.edit_message.await_args.kwargs
    assert edit["content"] == DELETED and edit["attachments"] == [] and edit["view"] is None
    assert file_id not in {
        r.file_id for r in image_context.storage.files(str(OWNER), Scope.of(str(GUILD)))
    }
    again = interaction(OWNER)
    await cog.press(again, "regen", file_id)
    again.response.send_message.assert_awaited_once_with(
        GONE, ephemeral=True, allowed_mentions=NO_PINGS
    )


async def test_a_button_custom_id_fits_discord_and_parses_back(image_context: AppContext) -> None:
    button = ImageButton("vary", "ab" * 16)
    assert len(button.custom_id) <= 100
    match = ImageButton.__discord_ui_compiled_template__.fullmatch(button.custom_id)
    again = await ImageButton.from_custom_id(MagicMock(), button.item, match)
    assert (again.action, again.file_id) == ("vary", "ab" * 16)
    assert ImageButton.__discord_ui_compiled_template__.fullmatch("abby:image:vary:../x") is None


async def test_a_failed_button_answers_with_an_ephemeral_error(
    cog: Images,
    image_context: AppContext,
    stability: StabilityServer,
) -> None:
    owner = interaction(OWNER)
    await imagine(cog, owner)
    stability.queue("/v2beta/stable-image/upscale/fast", error_reply(402, "payment_required"))
    press = interaction(OWNER)
    press.response.is_done = MagicMock(return_value=True)
    await cog.press(press, "upscale", _file_id(owner))
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


async def test_a_press_on_an_image_deleted_meanwhile_is_the_gone_line(
    cog: Images,
    image_context: AppContext,
    stability: StabilityServer,
) -> None:
    owner = interaction(OWNER)
    await imagine(cog, owner)
    file_id = _file_id(owner)
    press = interaction(OWNER)
    image_context.storage.remove(file_id)  # between the owner check and the action
    cog.bot.context.storage.get = MagicMock(return_value=SimpleNamespace(user_id=str(OWNER)))
    await cog.press(press, "delete", file_id)
    press.response.send_message.assert_awaited_once_with(
        GONE, ephemeral=True, allowed_mentions=NO_PINGS
    )
    press.response.edit_message.assert_not_awaited()
