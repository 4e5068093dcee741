"""The LLM client: the real openai SDK against an OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.config import LlmSettings
from core.errors import (
    ConfigError,
    ContentModerated,
    InvalidInput,
    OutOfCredits,
    RateLimited,
    ServiceUnavailable,
)
from core.llm import LLMClient
from tests.support.openai_server import ChatServer


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


def client_for(server: ChatServer, **overrides: object) -> LLMClient:
    settings = LlmSettings(
        provider="openai",
        base_url=server.base_url,
        api_key="sk-test-key-123456",
        model="test-model",
        **overrides,
    )
    return LLMClient(settings=settings)


async def test_generate_sends_system_history_and_prompt(server: ChatServer) -> None:
    client = client_for(server, temperature=0.2, max_tokens=64)
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    reply = await client.generate("what is XP?", system_prompt="be brief", history=history)
    await client.aclose()
    assert reply == "echo: what is XP?"
    [request] = server.requests
    assert request["auth"] == "Bearer sk-test-key-123456"
    body = request["body"]
    assert body["model"] == "test-model"
    assert (body["temperature"], body["max_tokens"]) == (0.2, 64)
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][0]["content"] == "be brief"


async def test_stream_generate_yields_the_reply_in_pieces(server: ChatServer) -> None:
    client = client_for(server)
    pieces = [p async for p in client.stream_generate("one two three")]
    await client.aclose()
    assert len(pieces) == 4
    assert "".join(pieces) == "echo: one two three"
    assert server.requests[0]["body"]["stream"] is True


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (401, {"error": {"message": "bad key", "code": "invalid_api_key"}}, ConfigError),
        (429, {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}, RateLimited),
        (429, {"error": {"message": "no money", "code": "insufficient_quota"}}, OutOfCredits),
        (400, {"error": {"message": "filtered", "code": "content_filter"}}, ContentModerated),
        (400, {"error": {"message": "max_tokens too large", "code": None}}, InvalidInput),
        (503, {"error": {"message": "overloaded", "code": None}}, ServiceUnavailable),
    ],
)
async def test_provider_errors_map_to_abby_errors(
    server: ChatServer, status: int, body: dict, expected: type[Exception]
) -> None:
    server.failures.extend([(status, body)] * 3)  # the SDK retries 429 and 5xx twice
    client = client_for(server)
    with pytest.raises(expected) as caught:
        await client.generate("hello")
    await client.aclose()
    assert "sk-test-key" not in str(caught.value)
    assert "hello" not in str(caught.value)


async def test_moderated_finish_reason_is_content_moderated(server: ChatServer) -> None:
    server.finish_reason = "content_filter"
    client = client_for(server)
    with pytest.raises(ContentModerated):
        await client.generate("hello")
    with pytest.raises(ContentModerated):
        [p async for p in client.stream_generate("hello")]
    await client.aclose()


async def test_unreachable_server_is_service_unavailable() -> None:
    settings = LlmSettings(provider="ollama", base_url="http://127.0.0.1:9/v1", timeout_seconds=2)
    client = LLMClient(settings=settings)
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        await client.generate("hello")
    await client.aclose()


def test_no_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no LLM configured"):
        LLMClient(settings=LlmSettings())


async def test_empty_and_oversized_prompts_are_refused_before_any_request(
    server: ChatServer,
) -> None:
    client = client_for(server)
    with pytest.raises(InvalidInput, match="empty"):
        await client.generate("   ")
    with pytest.raises(InvalidInput, match="limit"):
        await client.generate("x" * 40_000)
    assert server.requests == []
