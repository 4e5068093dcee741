"""Regenerate, vary and upscale from a stored image: charged like the commands, owner only,
against the Stability stand-in on both backends."""

from __future__ import annotations

import pytest

from core.context import AppContext
from core.errors import InvalidInput, OutOfCredits, QuotaExceeded, UnknownFile
from core.images.generation import requester
from tests.support import image_fixtures
from tests.support.stability_server import VARIED_PNG, StabilityServer, error_reply, make_png

stability = image_fixtures.stability
image_context = image_fixtures.image_context
GUILD = "g1"


def used(context: AppContext, user: str) -> int:
    return context.quota.get_quota_status(user)["daily"]["used"]


async def _first(context: AppContext) -> str:
    result = await context.images.generate(
        requester("u1", GUILD), "a red fox", style="anime", aspect_ratio="16:9", seed=77
    )
    return result.file_id


async def test_regenerate_sends_the_same_prompt_with_a_new_seed_and_charges_one(
    image_context: AppContext, stability: StabilityServer
) -> None:
    file_id = await _first(image_context)
    result = await image_context.images.regenerate(requester("u1", GUILD), file_id)
    first, again = stability.requests
    assert again.path == first.path
    assert {k: again.fields[k] for k in ("prompt", "style_preset", "aspect_ratio")} == {
        "prompt": "a red fox", "style_preset": "anime", "aspect_ratio": "16:9"
    }  # fmt: skip
    assert again.fields["seed"] != "77"
    assert used(image_context, "u1") == 2
    record = image_context.storage.get(result.file_id)
    assert record.metadata["prompt"] == "a red fox" and record.kept is False


async def test_vary_sends_the_stored_image_to_image_to_image(
    image_context: AppContext, stability: StabilityServer
) -> None:
    file_id = await _first(image_context)
    result = await image_context.images.vary(requester("u1", GUILD), file_id)
    sent = stability.requests[-1]
    assert sent.path.endswith("/generate/sd3") and sent.fields["mode"] == "image-to-image"
    assert sent.files["image"][2] == make_png() and sent.fields["prompt"] == "a red fox"
    assert image_context.storage.read(result.file_id) == VARIED_PNG
    meta = image_context.storage.get(result.file_id).metadata
    assert meta["source_file_id"] == file_id and meta["operation"] == "edit"
    assert used(image_context, "u1") == 2


async def test_upscale_keeps_the_prompt_so_the_result_can_be_regenerated(
    image_context: AppContext, stability: StabilityServer
) -> None:
    file_id = await _first(image_context)
    up = await image_context.images.upscale_stored(requester("u1", GUILD), file_id)
    assert image_context.storage.get(up.file_id).metadata["prompt"] == "a red fox"
    await image_context.images.regenerate(requester("u1", GUILD), up.file_id)
    assert stability.requests[-1].fields["prompt"] == "a red fox"
    assert used(image_context, "u1") == 3


@pytest.mark.parametrize("action", ["regenerate", "vary", "upscale_stored"])
async def test_someone_elses_image_is_refused_before_any_charge(
    image_context: AppContext, stability: StabilityServer, action: str
) -> None:
    file_id = await _first(image_context)
    with pytest.raises(UnknownFile):
        await getattr(image_context.images, action)(requester("u2", GUILD), file_id)
    assert used(image_context, "u2") == 0 and len(stability.requests) == 1


async def test_a_failed_regeneration_gives_the_unit_back(
    image_context: AppContext, stability: StabilityServer
) -> None:
    file_id = await _first(image_context)
    stability.queue("/v2beta/stable-image/generate/core", error_reply(402, "payment_required"))
    with pytest.raises(OutOfCredits):
        await image_context.images.regenerate(requester("u1", GUILD), file_id)
    assert used(image_context, "u1") == 1


async def test_regenerate_over_the_daily_limit_is_refused_before_the_api(
    image_context: AppContext, stability: StabilityServer
) -> None:
    file_id = await _first(image_context)
    for _ in range(4):
        image_context.quota.reserve("u1")
    with pytest.raises(QuotaExceeded):
        await image_context.images.regenerate(requester("u1", GUILD), file_id)
    assert len(stability.requests) == 1


async def test_an_image_without_a_prompt_cannot_be_regenerated(
    image_context: AppContext, stability: StabilityServer
) -> None:
    record = image_context.storage.save("u1", make_png(), {}, guild_id=GUILD)
    for action in ("regenerate", "vary"):
        with pytest.raises(InvalidInput):
            await getattr(image_context.images, action)(requester("u1", GUILD), record.file_id)
    assert used(image_context, "u1") == 0 and stability.requests == []
