"""`abby image` against the fake Stability server: stored, charged, and every refusal's exit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.context import AppContext
from core.scope import Scope
from tests.conftest import Cli, run_abby
from tests.support import image_fixtures
from tests.support.image_fixtures import image_env
from tests.support.stability_server import (
    TEST_KEY,
    StabilityServer,
    error_reply,
    image_reply,
    json_reply,
    make_png,
)

CORE = "/v2beta/stable-image/generate/core"
SD3 = "/v2beta/stable-image/generate/sd3"

stability = image_fixtures.stability


@pytest.fixture
def env(backend_env, stability, monkeypatch) -> dict[str, str]:  # noqa: ANN001
    values = image_env(backend_env, stability)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def store(backend, env) -> AppContext:  # noqa: ANN001
    context = AppContext(backend.settings())
    yield context
    if context.settings.database.uri is not None:
        context.database.client.drop_database(context.settings.database.name)
    context.close()


def test_generate_stores_charges_and_writes_a_copy(
    cli: Cli,
    env: dict[str, str],
    store: AppContext,
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    copy = tmp_path / "out.png"
    result = cli(
        "image",
        "generate",
        "a lighthouse at dusk",
        "--user",
        "u1",
        "--guild",
        "g1",
        "--style",
        "cinematic",
        "--aspect",
        "16:9",
        "--seed",
        "99",
        "-o",
        str(copy),
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = result.json()
    assert {"ok", "file_id", "path", "bytes", "seed", "finish_reason", "quota"} <= set(data)
    assert (data["ok"], data["seed"], data["finish_reason"]) == (True, 1234, "SUCCESS")
    assert Path(data["path"]).read_bytes() == copy.read_bytes() == make_png()
    assert data["quota"]["daily"]["remaining"] == 4
    [request] = stability.requests
    assert request.path == CORE
    assert request.fields["style_preset"] == "cinematic" and request.fields["seed"] == "99"
    [record] = store.storage.files("u1", Scope.of("g1"))
    assert record.metadata["prompt"] == "a lighthouse at dusk"
    assert "a lighthouse" not in result.stdout, "the prompt is not echoed in --json"


def test_the_api_key_never_reaches_output_or_logs(
    cli: Cli,
    env: dict[str, str],
    store: AppContext,
    stability: StabilityServer,
) -> None:
    stability.queue(CORE, error_reply(500, "server_error", "x"))
    ok = cli("-vv", "image", "generate", "a cat", "--user", "u1", "--json")
    stability.key = "another-key"  # now the configured key is wrong: 401
    bad = cli("-vv", "image", "generate", "a cat", "--user", "u1")
    assert ok.exit_code == 0 and bad.exit_code == 78, bad.output
    logs = "".join(p.read_text() for p in store.settings.log_dir.rglob("*") if p.is_file())
    for text in (ok.stdout, ok.stderr, bad.stdout, bad.stderr, logs):
        assert TEST_KEY not in text


@pytest.mark.parametrize(
    "reply,exit_code,code",
    [
        (error_reply(400, "bad_request", "prompt: contains banned words"), 2, "invalid_input"),
        (error_reply(402, "payment_required", "none"), 5, "out_of_credits"),
        (error_reply(403, "content_moderation", "flagged"), 5, "content_moderated"),
        (error_reply(413, "payload_too_large", "big"), 2, "invalid_input"),
        (error_reply(429, "rate_limited", "slow"), 75, "rate_limited"),
    ],
)
def test_an_uncharged_refusal_exits_with_its_code_and_gives_the_unit_back(
    cli: Cli,
    env: dict[str, str],
    store: AppContext,
    stability: StabilityServer,
    reply: object,
    exit_code: int,
    code: str,
) -> None:
    stability.queue(CORE, reply)
    result = cli("image", "generate", "a cat", "--user", "u1", "--json")
    assert result.exit_code == exit_code, result.output
    assert result.json()["error"]["code"] == code
    assert store.quota.get_quota_status("u1")["daily"]["used"] == 0
    assert store.storage.usage().total_files == 0


def test_service_errors_past_the_retries_exit_75(cli, env, store, stability) -> None:  # noqa: ANN001
    stability.queue(CORE, *[error_reply(503, "unavailable", "down")] * 4)
    result = cli("image", "generate", "a cat", "--user", "u1")
    assert result.exit_code == 75, result.output
    assert stability.count(CORE) == 4  # the first try and three retries


def test_after_a_429_the_next_command_is_refused_without_a_request(
    cli: Cli,
    env: dict[str, str],
    store: AppContext,
    stability,  # noqa: ANN001
) -> None:
    stability.queue(CORE, error_reply(429, "rate_limited", "slow"))
    assert cli("image", "generate", "a cat", "--user", "u1").exit_code == 75
    again = cli("image", "generate", "a cat", "--user", "u1")
    assert again.exit_code == 75 and "locked out" in again.stderr
    assert stability.count(CORE) == 1


def test_a_content_filtered_image_is_charged_but_never_stored(
    cli: Cli,
    env: dict[str, str],
    store: AppContext,
    stability,  # noqa: ANN001
) -> None:
    stability.queue(CORE, image_reply(finish_reason="CONTENT_FILTERED"))
    result = cli("image", "generate", "a cat", "--user", "u1")
    assert result.exit_code == 5, result.output
    assert store.storage.usage().total_files == 0
    assert not [p for p in store.storage.real_root().rglob("*") if p.is_file()]
    assert store.quota.get_quota_status("u1")["daily"]["used"] == 1


def test_bad_input_fails_before_any_request_and_costs_nothing(
    cli: Cli,
    env: dict[str, str],
    store: AppContext,
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("just words\n")
    huge = tmp_path / "huge.png"
    huge.write_bytes(make_png() + b"\0" * (20 * 1024 * 1024))
    good = tmp_path / "good.png"
    good.write_bytes(make_png())
    cases = [
        (("image", "generate", "", "--user", "u1"), "prompt is empty"),
        (("image", "generate", "a cat", "--user", "u1", "--style", "oil"), "unknown style"),
        (("image", "generate", "a cat", "--user", "u1", "--aspect", "5:3"), "aspect ratio"),
        (
            ("image", "edit", str(good), "a cat", "--user", "u1", "--strength", "1.5"),
            "strength 1.5",
        ),
        (("image", "edit", str(text), "a cat", "--user", "u1"), "not a PNG, JPEG or WEBP"),
        (("image", "edit", str(huge), "a cat", "--user", "u1"), "20.0 MiB"),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.output
    # A missing input file is 3 (not found), as for every command's input file.
    missing = cli("image", "upscale", str(tmp_path / "missing.png"), "--user", "u1")
    assert missing.exit_code == 3 and "no such file" in missing.stderr, missing.output
    assert stability.requests == []
    assert store.quota.get_quota_status("u1")["daily"]["used"] == 0


def test_a_spent_daily_quota_is_refused_before_the_api(cli, env, store, stability) -> None:  # noqa: ANN001
    for _ in range(5):
        store.quota.reserve("u1")
    result = cli("image", "generate", "a cat", "--user", "u1", "--json")
    assert result.exit_code == 4 and result.json()["error"]["code"] == "quota_exceeded"
    assert stability.requests == []
    assert cli("image", "generate", "a cat", "--user", "u1", "--level", "1").exit_code == 0


def test_edit_and_upscale_store_new_images(
    cli: Cli,
    env: dict[str, str],
    store: AppContext,
    stability: StabilityServer,
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(make_png(8, 8))
    edited = cli(
        "image", "edit", str(source), "bluer", "--user", "u1", "--strength", "0.3", "--json"
    )
    assert edited.exit_code == 0, edited.output
    assert stability.requests[-1].path == SD3
    assert stability.requests[-1].fields["mode"] == "image-to-image"
    file_id = edited.json()["file_id"]
    up = cli("image", "upscale", file_id, "--user", "u1", "--json")
    assert up.exit_code == 0, up.output
    assert stability.requests[-1].files["image"][2] == Path(edited.json()["path"]).read_bytes()
    stability.queue("/v2beta/stable-image/upscale/creative", json_reply(200, {"id": "j1"}))
    stability.queue("/v2beta/results/j1", json_reply(202, {"status": "in-progress"}))
    creative = cli(
        "image",
        "upscale",
        str(source),
        "--user",
        "u1",
        "--mode",
        "creative",
        "--prompt",
        "sharp",
        "--json",
    )
    assert creative.exit_code == 0, creative.output
    assert stability.count("/v2beta/results/j1") == 2
    assert len(store.storage.files("u1")) == 3


@pytest.mark.slow
def test_ten_simultaneous_processes_with_three_left_make_exactly_three_images(
    env: dict[str, str],
    store: AppContext,
    stability,  # noqa: ANN001
) -> None:
    store.quota.reserve("u1")
    store.quota.reserve("u1")

    def one(_: int):  # noqa: ANN202
        return run_abby("image", "generate", "a cat", "--user", "u1", "--json", env=env)

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(one, range(10)))
    codes = sorted(r.exit_code for r in results)
    assert codes == [0] * 3 + [4] * 7, [r.output for r in results if r.exit_code not in (0, 4)]
    assert stability.count(CORE) == 3
    assert len(store.storage.files("u1")) == 3
    assert store.quota.get_quota_status("u1")["daily"]["remaining"] == 0
