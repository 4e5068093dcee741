"""The Stability client against a real HTTP server on 127.0.0.1: requests, answers, errors."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from core.config import ImageSettings
from core.errors import (
    ConfigError,
    ContentModerated,
    ExitCode,
    InvalidInput,
    OutOfCredits,
    RateLimited,
    ServiceUnavailable,
)
from core.images.limiter import RateLimiter
from core.images.stability import ImageGenerator, StabilityClient
from core.images.validation import STYLE_PRESETS, sniff_image_type
from tests.support import image_fixtures
from tests.support.image_fixtures import FAST_IMAGES
from tests.support.stability_server import (
    TEST_KEY,
    Reply,
    StabilityServer,
    error_reply,
    image_reply,
    json_reply,
    make_png,
)

CORE = "/v2beta/stable-image/generate/core"
SD3 = "/v2beta/stable-image/generate/sd3"
FAST = "/v2beta/stable-image/upscale/fast"
CREATIVE = "/v2beta/stable-image/upscale/creative"

stability = image_fixtures.stability


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make_client(
    server: StabilityServer, tmp_path: Path, *, now: FakeTime | None = None, **images: object
) -> StabilityClient:
    settings = ImageSettings(**{**FAST_IMAGES, "base_url": server.url, **images})
    limiter = RateLimiter(
        requests=settings.rate_limit_requests,
        window_seconds=settings.rate_limit_window_seconds,
        lockout_seconds=settings.lockout_seconds,
        state_file=tmp_path / "rate_limit.json",
        now=now or FakeTime(),
    )
    return StabilityClient(settings, limiter=limiter, max_image_bytes=10 * 1024 * 1024)


async def test_text_to_image_sends_multipart_with_bearer_and_returns_the_png(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    client = make_client(stability, tmp_path)
    image = await client.generate(
        "a red fox in the snow",
        style_preset="anime",
        aspect_ratio="16:9",
        seed=7,
        negative_prompt="blurry",
    )
    assert sniff_image_type(image.data) == "image/png"
    assert (image.seed, image.finish_reason, image.model) == (1234, "SUCCESS", "core")
    [request] = stability.requests
    assert (request.method, request.path) == ("POST", CORE)
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert request.headers["accept"] == "image/*"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.fields == {
        "prompt": "a red fox in the snow",
        "negative_prompt": "blurry",
        "style_preset": "anime",
        "aspect_ratio": "16:9",
        "seed": "7",
        "output_format": "png",
    }


@pytest.mark.parametrize(
    "model,path,mode",
    [("ultra", "/v2beta/stable-image/generate/ultra", None), ("sd3", SD3, "text-to-image")],
)
async def test_the_model_setting_picks_the_endpoint(
    stability: StabilityServer,
    tmp_path: Path,
    model: str,
    path: str,
    mode: str | None,
) -> None:
    client = make_client(stability, tmp_path, model=model)
    await client.generate("a lighthouse")
    [request] = stability.requests
    assert request.path == path
    assert request.fields.get("mode") == mode


async def test_image_to_image_goes_through_sd3_with_the_image_and_strength(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    source = make_png(8, 8)
    image = await make_client(stability, tmp_path).edit("make it blue", source, strength=0.35)
    assert image.operation == "edit"
    [request] = stability.requests
    assert request.path == SD3
    assert request.fields["mode"] == "image-to-image"
    assert request.fields["strength"] == "0.35"
    filename, content_type, data = request.files["image"]
    assert (content_type, data) == ("image/png", source)


async def test_fast_upscale_posts_the_image_and_returns_the_bigger_one(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    image = await make_client(stability, tmp_path).upscale(make_png(8, 8))
    assert stability.requests[0].path == FAST
    assert stability.requests[0].files["image"][2] == make_png(8, 8)
    assert len(image.data) > 0 and image.operation == "upscale"


async def test_content_filtered_is_a_charged_moderation_failure(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    stability.queue(CORE, image_reply(finish_reason="CONTENT_FILTERED"))
    with pytest.raises(ContentModerated, match="content filter") as caught:
        await make_client(stability, tmp_path).generate("something")
    assert caught.value.fields["charged"] is True
    assert caught.value.exit_code == ExitCode.EXTERNAL_REFUSAL


@pytest.mark.parametrize(
    "reply,error,exit_code,text",
    [
        (
            error_reply(400, "bad_request", "aspect_ratio: must be one of 1:1"),
            InvalidInput,
            2,
            "aspect_ratio: must be one of 1:1",
        ),
        (error_reply(401, "unauthorized", "bad key"), ConfigError, 78, "API key"),
        (error_reply(402, "payment_required", "no credits"), OutOfCredits, 5, "credits"),
        (error_reply(403, "content_moderation", "flagged"), ContentModerated, 5, "moderation"),
        (error_reply(413, "payload_too_large", "too big"), InvalidInput, 2, "too large"),
    ],
)
async def test_each_refusal_becomes_its_core_error_after_one_request(
    stability: StabilityServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    error: type[Exception],
    exit_code: int,
    text: str,
) -> None:
    stability.queue(CORE, reply)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(error, match=text) as caught:
        await make_client(stability, tmp_path).generate("a cat")
    assert caught.value.exit_code == exit_code
    assert stability.count() == 1, "a refusal is not retried"
    assert TEST_KEY not in str(caught.value)
    assert TEST_KEY not in caplog.text


async def test_a_wrong_key_is_a_config_error_and_never_shown(
    stability: StabilityServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(stability, tmp_path, api_key="sk-wrong-key-do-not-print")
    with pytest.raises(ConfigError) as caught:
        await client.generate("a cat")
    assert "sk-wrong" not in str(caught.value) and "sk-wrong" not in caplog.text


async def test_429_locks_every_client_sharing_the_state_out_for_a_minute(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    clock = FakeTime()
    stability.queue(CORE, error_reply(429, "rate_limited", "slow down"))
    first = make_client(stability, tmp_path, now=clock)
    with pytest.raises(RateLimited) as caught:
        await first.generate("a cat")
    assert caught.value.exit_code == ExitCode.TEMPORARY
    # A second client on the same state file (another process) is locked out too, and
    # neither sends anything while the lockout runs.
    second = make_client(stability, tmp_path, now=clock)
    clock.now += 59
    for client in (first, second):
        with pytest.raises(RateLimited, match="locked out"):
            await client.generate("a cat")
    assert stability.count() == 1
    clock.now += 2
    assert (await second.generate("a cat")).finish_reason == "SUCCESS"
    assert stability.count() == 2


async def test_server_errors_are_retried_with_backoff_then_succeed(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    stability.queue(CORE, error_reply(500, "server_error", "oops"), error_reply(503, "busy"))
    image = await make_client(stability, tmp_path).generate("a cat")
    assert image.finish_reason == "SUCCESS"
    assert stability.count(CORE) == 3


async def test_server_errors_past_the_retries_are_service_unavailable(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    stability.queue(CORE, *[error_reply(500, "server_error", "down")] * 3)
    with pytest.raises(ServiceUnavailable) as caught:
        await make_client(stability, tmp_path, max_retries=2).generate("a cat")
    assert caught.value.exit_code == ExitCode.TEMPORARY
    assert stability.count(CORE) == 3


async def test_an_unreachable_server_is_service_unavailable(tmp_path: Path) -> None:
    server = StabilityServer()
    server.start()
    server.stop()  # nothing listens on that port any more
    with pytest.raises(ServiceUnavailable, match="cannot reach"):
        await make_client(server, tmp_path, max_retries=1).generate("a cat")


async def test_creative_upscale_polls_results_until_the_image_is_ready(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    stability.queue(CREATIVE, json_reply(200, {"id": "abc123"}))
    running = json_reply(202, {"id": "abc123", "status": "in-progress"})
    stability.queue("/v2beta/results/abc123", running, running, image_reply(size=64))
    image = await make_client(stability, tmp_path).upscale(
        make_png(8, 8), mode="creative", prompt="crisp details"
    )
    assert sniff_image_type(image.data) == "image/png"
    paths = [(r.method, r.path) for r in stability.requests]
    assert paths == [("POST", CREATIVE)] + [("GET", "/v2beta/results/abc123")] * 3
    assert stability.requests[0].fields["prompt"] == "crisp details"
    assert all(r.headers["accept"] == "image/*" for r in stability.requests[1:])


async def test_creative_upscale_gives_up_at_the_deadline(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    stability.queue(CREATIVE, json_reply(200, {"id": "slow"}))
    stability.queue("/v2beta/results/slow", *[json_reply(202, {"status": "in-progress"})] * 50)
    client = make_client(stability, tmp_path, poll_deadline_seconds=0.2, poll_interval_seconds=0.05)
    with pytest.raises(ServiceUnavailable, match="still running"):
        await client.upscale(make_png(), mode="creative", prompt="x")
    assert 2 <= stability.count("/v2beta/results/") <= 6


TWENTY_MIB = 20 * 1024 * 1024


@pytest.mark.parametrize(
    "call,text",
    [
        (lambda c: c.generate(""), "prompt is empty"),
        (lambda c: c.generate("   "), "prompt is empty"),
        (lambda c: c.generate("x" * 10_001), "10,001 characters"),
        (lambda c: c.generate("a cat", style_preset="watercolour"), "unknown style"),
        (lambda c: c.generate("a cat", aspect_ratio="4:3"), "unknown aspect ratio"),
        (lambda c: c.generate("a cat", seed=-1), "seed"),
        (lambda c: c.edit("a cat", make_png(), strength=1.5), "strength 1.5 is out of range"),
        (
            lambda c: c.edit("a cat", b"hello, I am a text file\n", strength=0.5),
            "not a PNG, JPEG or WEBP",
        ),
        (lambda c: c.edit("a cat", make_png() + b"\0" * TWENTY_MIB, strength=0.5), "20.0 MiB"),
        (lambda c: c.upscale(make_png(), scale=2), "multiplies by 4"),
        (lambda c: c.upscale(make_png(), mode="creative"), "upscale prompt is empty"),
    ],
)
async def test_bad_input_is_one_clear_error_before_any_request(
    stability: StabilityServer,
    tmp_path: Path,
    call: Callable[[StabilityClient], Awaitable[object]],
    text: str,
) -> None:
    with pytest.raises(InvalidInput, match=text) as caught:
        await call(make_client(stability, tmp_path))
    assert caught.value.exit_code == ExitCode.USAGE
    assert "\n" not in str(caught.value)
    assert stability.requests == []


async def test_a_missing_key_is_a_config_error_before_any_request(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="ABBY_IMAGES__API_KEY"):
        await make_client(stability, tmp_path, api_key=None).generate("a cat")
    assert stability.requests == []


def test_the_seventeen_documented_presets_are_accepted() -> None:
    assert len(STYLE_PRESETS) == 17 and "pixel-art" in STYLE_PRESETS


async def test_seed_image_generator_returns_ok_bytes_and_message(
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    generator = ImageGenerator(make_client(stability, tmp_path))
    ok, data, message = await generator.text_to_image("a cat", style_preset="pixel-art")
    assert ok and sniff_image_type(data) == "image/png" and "seed 1234" in message
    ok, data, message = await generator.image_to_image("a cat", b"not an image", 0.5)
    assert (ok, data) == (False, b"") and "not a PNG" in message
    stability.queue(FAST, error_reply(402, "payment_required", "none left"))
    ok, data, message = await generator.upscale_image(make_png(), 4)
    assert (ok, data) == (False, b"") and "credits" in message


def test_limiter_makes_callers_wait_once_the_window_is_full(tmp_path: Path) -> None:
    clock = FakeTime()
    limiter = RateLimiter(
        requests=3, window_seconds=10, lockout_seconds=60, state_file=tmp_path / "l", now=clock
    )
    assert [limiter.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire() == pytest.approx(10.0)
    clock.now += 10.5
    assert limiter.try_acquire() == 0.0


async def test_limiter_refuses_when_the_wait_would_exceed_the_window(tmp_path: Path) -> None:
    clock = FakeTime()
    limiter = RateLimiter(requests=1, window_seconds=10, lockout_seconds=60, now=clock)
    await limiter.acquire()
    with pytest.raises(RateLimited, match="1 requests per 10 s"):
        await limiter.acquire(max_wait=1.0)


def _take_slots(state_file: str, attempts: int, queue) -> None:  # noqa: ANN001
    limiter = RateLimiter(
        requests=7, window_seconds=600, lockout_seconds=60, state_file=Path(state_file)
    )
    queue.put(sum(1 for _ in range(attempts) if limiter.try_acquire() == 0.0))


def test_limiter_state_is_shared_by_separate_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_take_slots, args=(str(tmp_path / "shared.json"), 5, queue))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    granted = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert sum(granted) == 7, granted


async def test_seed_shortcuts_reach_the_current_contexts_services(
    stability: StabilityServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.config import load_settings
    from core.context import AppContext, use_context
    from core.images import get_image_generator
    from core.storage import get_quota_manager, get_storage_manager

    settings = load_settings(
        environ={"ABBY_DATA_DIR": str(tmp_path / "data")},
        overrides={"images": {**FAST_IMAGES, "base_url": stability.url}},
    )
    context = AppContext(settings)
    with use_context(context):
        ok, data, _ = await get_image_generator().text_to_image("a cat")
        saved = get_storage_manager().save_generation("u1", data, {"prompt": "a cat"})
        status = get_quota_manager().get_quota_status("u1")
    context.close()
    assert ok and Path(saved["path"]).read_bytes() == data
    assert status["user"]["used_mb"] >= 0 and status["daily"]["remaining"] == 5
