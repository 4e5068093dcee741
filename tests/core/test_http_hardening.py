"""Issue #9 finding 5: the LLM and Stability clients against hostile servers on 127.0.0.1.

Each server misbehaves one way (endless body, 10 GB Content-Length, one byte at a time, a
redirect to another origin, invalid JSON, gzip garbage, a truncated image); each test asserts
the typed error, a bounded wall time, how much the server managed to send where memory is at
stake, and for images that the daily unit is back.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import ImageSettings, LlmSettings, load_settings
from core.context import AppContext
from core.errors import (
    BadResponse,
    ConfigError,
    ResponseTooLarge,
    ServiceUnavailable,
)
from core.images.generation import requester
from core.images.limiter import RateLimiter
from core.images.stability import MAX_RESPONSE_BYTES, StabilityClient
from core.llm import LLMClient
from core.llm.client import response_cap
from tests.conftest import CliResult, run_abby
from tests.support.hostile_server import (
    HostileServer,
    chat_completion,
    endless,
    fixed,
    gzip_garbage,
    json_bytes,
    response_bytes,
    trickle,
)
from tests.support.image_fixtures import FAST_IMAGES
from tests.support.openai_server import ChatServer
from tests.support.stability_server import TEST_KEY, StabilityServer, make_png

# Loopback socket buffers hold a few MiB that the server counts as sent though the client
# never read them; anything far past the cap plus this means the client kept reading.
KERNEL_SLACK = 16 * 1024 * 1024
# Runs the CLI and records its own peak RSS. VmHWM belongs to the new address space, unlike
# ru_maxrss from wait4, which Linux carries over from the forking parent (the pytest process,
# gigabytes deep into a full run).
PEAK_RUNNER = """
import atexit, re, runpy, sys
peak_file = sys.argv[1]
def record():
    status = open("/proc/self/status").read()
    kib = int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
    open(peak_file, "w").write(str(kib * 1024))
atexit.register(record)
sys.argv = ["abby", *sys.argv[2:]]
runpy.run_module("abby_cli.main", run_name="__main__")
"""
SECRET = "sk-hostile-secret-424242"


# --- the LLM client --------------------------------------------------------------------------


def llm_for(server_url: str, **overrides: object) -> LLMClient:
    settings = LlmSettings(
        provider="openai",
        base_url=server_url + "/v1",
        api_key=SECRET,
        model="test-model",
        **{"timeout_seconds": 5.0, "max_tokens": 64, **overrides},
    )
    return LLMClient(settings=settings)


async def ask(client: LLMClient, *, stream: bool = False) -> str:
    try:
        if stream:
            return "".join([piece async for piece in client.stream_generate("the secret plan")])
        return await client.generate("the secret plan")
    finally:
        await client.aclose()


def assert_clean(exc: BaseException) -> None:
    text = str(exc)
    assert "\n" not in text and SECRET not in text and "secret plan" not in text, text


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_llm_endless_body_stops_at_the_cap(stream: bool) -> None:
    kind = "text/event-stream" if stream else "application/json"
    with HostileServer(endless(kind)) as server:
        started = time.monotonic()
        with pytest.raises(ResponseTooLarge) as caught:
            await ask(llm_for(server.url), stream=stream)
        elapsed = time.monotonic() - started
    assert_clean(caught.value)
    assert elapsed < 5, elapsed
    assert server.sent < response_cap(64, stream=stream) + KERNEL_SLACK, server.sent
    assert len(server.requests) == 1  # an oversized answer is not retried


async def test_llm_huge_content_length_is_refused_before_reading() -> None:
    with HostileServer(endless("application/json", content_length=10 * 1024**3)) as server:
        with pytest.raises(ResponseTooLarge, match="larger than"):
            await ask(llm_for(server.url))
    assert server.sent < KERNEL_SLACK, server.sent


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_llm_slowloris_is_cut_at_the_total_timeout(stream: bool) -> None:
    """One byte every 0.2 s never trips a per-read timeout of 1 s; the total deadline does."""
    if stream:
        chunk = json.dumps({"choices": [{"index": 0, "delta": {"content": "hi"}}]})
        body = f"data: {chunk}\n\n".encode() * 50
        answer = response_bytes("200 OK", {"Content-Type": "text/event-stream"}, body)
    else:
        answer = response_bytes(
            "200 OK", {"Content-Type": "application/json"}, json_bytes(chat_completion())
        )
    with HostileServer(trickle(answer, interval=0.2)) as server:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="within 1 s") as caught:
            await ask(llm_for(server.url, timeout_seconds=1.0), stream=stream)
        elapsed = time.monotonic() - started
    assert_clean(caught.value)
    assert elapsed < 2.5, elapsed


async def test_llm_redirect_to_another_host_is_not_followed() -> None:
    """A 307 keeps the method and body: following it would send the prompt elsewhere."""
    with ChatServer() as elsewhere:
        location = elsewhere.base_url + "/chat/completions"
        redirect = fixed("307 Temporary Redirect", {"Location": location}, b"")
        with HostileServer(redirect) as server:
            with pytest.raises(ConfigError, match="redirect") as caught:
                await ask(llm_for(server.url))
    assert_clean(caught.value)
    assert elsewhere.requests == []
    assert len(server.requests) == 1


GARBAGE = {
    "invalid json": ({"Content-Type": "application/json"}, b'{"choices": [ truncated'),
    "gzip garbage": (
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        gzip_garbage(),
    ),
    "wrong content type": ({"Content-Type": "text/html"}, b"<html>the secret plan</html>"),
    "no choices": ({"Content-Type": "application/json"}, b'{"id": "x", "choices": []}'),
}


@pytest.mark.parametrize("headers, body", GARBAGE.values(), ids=GARBAGE.keys())
async def test_llm_malformed_answer_is_bad_response(headers: dict[str, str], body: bytes) -> None:
    with HostileServer(fixed("200 OK", headers, body)) as server:
        with pytest.raises(BadResponse) as caught:
            await ask(llm_for(server.url))
    assert_clean(caught.value)
    assert len(server.requests) == 1


async def test_llm_truncated_body_is_bad_response() -> None:
    head = response_bytes("200 OK", {"Content-Type": "application/json"}, b"")
    cut = head.replace(b"Content-Length: 0", b"Content-Length: 4000") + b'{"id": "chat'
    with HostileServer(trickle(cut, interval=0)) as server:
        with pytest.raises(BadResponse, match="broke off"):
            await ask(llm_for(server.url))


async def test_llm_stream_answered_whole_falls_back_to_the_whole_reply() -> None:
    reply = fixed("200 OK", {"Content-Type": "application/json"}, json_bytes(chat_completion()))
    with HostileServer(reply) as server:
        assert await ask(llm_for(server.url), stream=True) == "plain reply"
    assert b'"stream":true' in server.requests[0].replace(b" ", b"")


async def test_llm_stream_without_any_event_is_bad_response() -> None:
    empty = fixed("200 OK", {"Content-Type": "text/event-stream"}, b": nothing here\n\n")
    with HostileServer(empty) as server:
        with pytest.raises(BadResponse, match="no reply"):
            await ask(llm_for(server.url), stream=True)


async def test_llm_honest_gzip_reply_is_inflated() -> None:
    """We inflate bodies ourselves now, so the common case must still work."""
    body = gzip.compress(json_bytes(chat_completion("squeezed")))
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    with HostileServer(fixed("200 OK", headers, body)) as server:
        assert await ask(llm_for(server.url)) == "squeezed"
    assert b"accept-encoding: gzip, deflate" in server.requests[0].lower()


async def test_llm_gzip_bomb_stops_at_the_cap_after_inflating() -> None:
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))  # 64 MiB of spaces in ~64 KiB
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    with HostileServer(fixed("200 OK", headers, bomb)) as server:
        with pytest.raises(ResponseTooLarge):
            await ask(llm_for(server.url))


def test_llm_cap_grows_with_max_tokens_and_has_a_floor() -> None:
    assert response_cap(1, stream=False) == response_cap(2, stream=False)  # the floor
    assert response_cap(100_000, stream=False) > response_cap(1, stream=False)
    assert response_cap(100_000, stream=True) > response_cap(100_000, stream=False)


# --- the Stability client --------------------------------------------------------------------

CORE = "/v2beta/stable-image/generate/core"


@pytest.fixture
def images(tmp_path: Path) -> Iterator[AppContext]:
    """A real context (SQLite) whose images point at whichever server the test sets."""
    contexts: list[AppContext] = []

    def open_for(url: str, **extra: object) -> AppContext:
        settings = load_settings(
            environ={"ABBY_DATA_DIR": str(tmp_path / "data")},
            overrides={"images": {**FAST_IMAGES, "base_url": url, **extra}},
        )
        contexts.append(AppContext(settings))
        return contexts[-1]

    yield open_for  # type: ignore[misc]
    for context in contexts:
        context.close()


def stability_for(url: str, tmp_path: Path, **extra: object) -> StabilityClient:
    settings = ImageSettings(**{**FAST_IMAGES, "base_url": url, **extra})
    limiter = RateLimiter(
        requests=100, window_seconds=1, lockout_seconds=0, state_file=tmp_path / "limit.json"
    )
    return StabilityClient(settings, limiter=limiter, max_image_bytes=10 * 1024 * 1024)


async def generate_and_check_unit(context: AppContext, expected: type[Exception]) -> Exception:
    who = requester("u1")
    with pytest.raises(expected) as caught:
        await context.images.generate(who, "a lighthouse")
    assert context.quota.status("u1").as_dict()["daily"]["remaining"] == 5, "unit kept"
    assert context.storage.files("u1") == []
    assert TEST_KEY not in str(caught.value) and "\n" not in str(caught.value)
    return caught.value


async def test_image_endless_body_stops_at_the_cap_and_gives_the_unit_back(images) -> None:  # noqa: ANN001
    with HostileServer(endless("image/png")) as server:
        started = time.monotonic()
        await generate_and_check_unit(images(server.url), ResponseTooLarge)
        elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed
    assert server.sent < MAX_RESPONSE_BYTES + KERNEL_SLACK, server.sent
    assert len(server.requests) == 1


async def test_image_huge_content_length_is_refused_before_reading(images) -> None:  # noqa: ANN001
    with HostileServer(endless("image/png", content_length=10 * 1024**3)) as server:
        await generate_and_check_unit(images(server.url), ResponseTooLarge)
    assert server.sent < KERNEL_SLACK, server.sent


async def test_image_slowloris_is_cut_at_the_total_timeout(images) -> None:  # noqa: ANN001
    png = make_png()
    answer = response_bytes("200 OK", {"Content-Type": "image/png"}, png)
    with HostileServer(trickle(answer, interval=0.2)) as server:
        started = time.monotonic()
        error = await generate_and_check_unit(
            images(server.url, timeout_seconds=1.0), ServiceUnavailable
        )
        elapsed = time.monotonic() - started
    assert "within 1 s" in str(error)
    assert elapsed < 2.5, elapsed
    assert len(server.requests) == 1  # the deadline is spent: no retry


IMAGE_GARBAGE = {
    "gzip garbage": ({"Content-Type": "image/png", "Content-Encoding": "gzip"}, gzip_garbage()),
    "truncated png": ({"Content-Type": "image/png"}, make_png(64, 64)[:-20]),
    "wrong content type": ({"Content-Type": "application/json"}, b'{"image": "elsewhere"}'),
}


@pytest.mark.parametrize("headers, body", IMAGE_GARBAGE.values(), ids=IMAGE_GARBAGE.keys())
async def test_image_malformed_answer_is_bad_response_and_gives_the_unit_back(
    images,  # noqa: ANN001
    headers: dict[str, str],
    body: bytes,
) -> None:
    with HostileServer(fixed("200 OK", headers, body)) as server:
        await generate_and_check_unit(images(server.url), BadResponse)
    assert len(server.requests) == 1


async def test_image_body_cut_short_of_its_length_is_bad_response(images) -> None:  # noqa: ANN001
    head = response_bytes("200 OK", {"Content-Type": "image/png"}, b"")
    cut = head.replace(b"Content-Length: 0", b"Content-Length: 4000") + make_png()[:40]
    with HostileServer(trickle(cut, interval=0)) as server:
        error = await generate_and_check_unit(images(server.url), BadResponse)
    assert "broke off" in str(error)
    assert len(server.requests) == 4  # a transient fault: retried, then reported


async def test_image_request_cancelled_in_flight_gives_the_unit_back(images) -> None:  # noqa: ANN001
    """The bot cancels an interaction's task, or Ctrl-C cancels the CLI's: no image, no charge."""
    answer = response_bytes("200 OK", {"Content-Type": "image/png"}, make_png())
    with HostileServer(trickle(answer, interval=0.2)) as server:
        context = images(server.url)
        task = asyncio.ensure_future(context.images.generate(requester("u1"), "a lighthouse"))
        while not server.requests:
            await asyncio.sleep(0.02)
        assert context.quota.status("u1").as_dict()["daily"]["remaining"] == 4  # reserved
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert context.quota.status("u1").as_dict()["daily"]["remaining"] == 5


async def test_image_honest_gzip_answer_is_inflated(tmp_path: Path) -> None:
    png = make_png(32, 32)
    headers = {"Content-Type": "image/png", "Content-Encoding": "gzip", "seed": "7"}
    with HostileServer(fixed("200 OK", headers, gzip.compress(png))) as server:
        image = await stability_for(server.url, tmp_path).generate("a lighthouse")
    assert (image.data, image.seed) == (png, 7)


async def test_image_redirect_to_another_host_is_not_followed(tmp_path: Path) -> None:
    elsewhere = StabilityServer()
    elsewhere.start()
    try:
        redirect = fixed("307 Temporary Redirect", {"Location": elsewhere.url + CORE}, b"")
        with HostileServer(redirect) as server:
            with pytest.raises(ConfigError, match="redirect"):
                await stability_for(server.url, tmp_path).generate("a lighthouse")
    finally:
        elsewhere.stop()
    assert elsewhere.requests == []


# --- through the real CLI ----------------------------------------------------------------------


def one_line(result: CliResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.slow
def test_cli_ask_against_a_slowloris_exits_75_at_the_timeout(tmp_path: Path) -> None:
    answer = response_bytes(
        "200 OK", {"Content-Type": "application/json"}, json_bytes(chat_completion())
    )
    with HostileServer(trickle(answer, interval=0.2)) as server:
        env = {
            "ABBY_DATA_DIR": str(tmp_path / "data"),
            "ABBY_LLM__PROVIDER": "openai",
            "ABBY_LLM__BASE_URL": server.url + "/v1",
            "ABBY_LLM__API_KEY": SECRET,
            "ABBY_LLM__TIMEOUT_SECONDS": "1",
        }
        started = time.monotonic()
        result = run_abby("ask", "hello", "--no-stream", env=env, timeout=30)
        elapsed = time.monotonic() - started
    assert result.exit_code == 75, result.output
    assert "within 1 s" in one_line(result)
    assert SECRET not in result.stdout + result.stderr
    assert elapsed < 8, elapsed  # interpreter start-up and imports included


@pytest.mark.slow
def test_cli_ask_stream_against_a_whole_reply_prints_it(tmp_path: Path) -> None:
    reply = fixed("200 OK", {"Content-Type": "application/json"}, json_bytes(chat_completion()))
    with HostileServer(reply) as server:
        env = {
            "ABBY_DATA_DIR": str(tmp_path / "data"),
            "ABBY_LLM__PROVIDER": "openai",
            "ABBY_LLM__BASE_URL": server.url + "/v1",
        }
        result = run_abby("ask", "hello", "--stream", env=env, timeout=30)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "plain reply"


def test_cli_image_generate_against_an_endless_body_stays_small(tmp_path: Path) -> None:
    """The issue's run reached 3.9 GB before it crashed; the process now peaks near its cap."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with HostileServer(endless("image/png")) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ABBY_")},
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "ABBY_DATA_DIR": str(tmp_path / "data"),
            "ABBY_IMAGES__BASE_URL": server.url,
            "ABBY_IMAGES__API_KEY": TEST_KEY,
        }
        peak_file = tmp_path / "peak"
        started = time.monotonic()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    PEAK_RUNNER,
                    str(peak_file),
                    "image",
                    "generate",
                    "a cat",
                    "-u",
                    "u1",
                ],
                env=env,
                stdout=stdout,
                stderr=stderr,
            )
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        elapsed = time.monotonic() - started
    result = CliResult(process.returncode, out.read_text(), err.read_text())
    assert result.exit_code == 75, result.output
    assert "limit" in one_line(result)
    assert server.sent < MAX_RESPONSE_BYTES + KERNEL_SLACK, server.sent
    peak = int(peak_file.read_text())
    assert peak < MAX_RESPONSE_BYTES * 3 + 200 * 1024 * 1024, peak
    assert elapsed < 20, elapsed


def test_cli_image_generate_against_gzip_garbage_exits_75_and_keeps_the_unit(
    tmp_path: Path,
) -> None:
    garbage = fixed(
        "200 OK", {"Content-Type": "image/png", "Content-Encoding": "gzip"}, gzip_garbage()
    )
    with HostileServer(garbage) as server:
        env = {
            "ABBY_DATA_DIR": str(tmp_path / "data"),
            "ABBY_IMAGES__BASE_URL": server.url,
            "ABBY_IMAGES__API_KEY": TEST_KEY,
            "ABBY_IMAGES__RETRY_BACKOFF_SECONDS": "0.01",
        }
        result = run_abby("image", "generate", "a cat", "--user", "u1", env=env, timeout=30)
        quota = run_abby("storage", "quota", "u1", "--json", env=env, timeout=30)
    assert result.exit_code == 75, result.output
    assert "Stability" in one_line(result)
    assert quota.exit_code == 0, quota.output
    assert quota.json()["daily"]["remaining"] == 5


def test_llm_client_keeps_the_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our own transport turns httpx2's proxy lookup off; the client must do it instead."""
    from core.llm.client import _env_proxy

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert _env_proxy("https://api.openai.com/v1") == "http://proxy.example:3128"
    assert _env_proxy("http://127.0.0.1:11434/v1") is None
