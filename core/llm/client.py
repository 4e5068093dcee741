"""LLM client: any OpenAI-compatible chat server (OpenAI, Ollama, llama.cpp) through the SDK.

The seed's `generate()` returns the whole reply; `stream_generate()` yields it piece by piece.
Provider errors are translated at this boundary into Abby's vocabulary, cause kept, with no
prompt text or API key in any message.

What a server sends back is bounded: each call has one total deadline (`timeout_seconds`,
for the whole stream too, not per read), each body a size cap derived from `max_tokens`
(`response_cap`), redirects are never followed (a 307 would resend the prompt elsewhere),
and an answer that cannot be read is a BadResponse rather than an unexpected crash.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, TypedDict, cast

from core.config import LlmSettings
from core.errors import (
    BadResponse,
    ConfigError,
    ContentModerated,
    ExternalRefusal,
    InvalidInput,
    OutOfCredits,
    RateLimited,
    ServiceUnavailable,
)

if TYPE_CHECKING:
    import httpx2
    import openai
    from openai.types.chat import ChatCompletionMessageParam

log = logging.getLogger(__name__)


class _Options(TypedDict):
    """The request options of every completion call (typed, so the SDK's overloads resolve)."""

    model: str
    temperature: float
    max_tokens: int


OLLAMA_URL = "http://localhost:11434/v1"
OPENAI_URL = "https://api.openai.com/v1"
MAX_PROMPT_CHARS = 32_000
ROLES = frozenset({"system", "user", "assistant"})

# Response size caps. A token is ~4 characters; JSON-escaped (\uXXXX, surrogate pairs) it can
# take a dozen bytes. A streamed token comes in its own server-sent event of ~200-300 bytes.
WHOLE_BYTES_PER_TOKEN = 16
STREAM_BYTES_PER_TOKEN = 1024
FRAMING_BYTES = 64 * 1024
MIN_RESPONSE_BYTES = 1024 * 1024  # error bodies, usage blocks, verbose servers


def response_cap(max_tokens: int, *, stream: bool) -> int:
    """The most bytes a reply of `max_tokens` may take on the wire, framing included."""
    per_token = STREAM_BYTES_PER_TOKEN if stream else WHOLE_BYTES_PER_TOKEN
    return max(MIN_RESPONSE_BYTES, max_tokens * per_token + FRAMING_BYTES)


def _translate(exc: Exception, where: str) -> Exception:
    import httpx2
    import openai

    if isinstance(exc, openai.APIConnectionError) and isinstance(
        exc.__cause__, httpx2.RemoteProtocolError
    ):
        return BadResponse(f"the LLM server at {where} broke off its answer; retry later")
    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return ServiceUnavailable(f"the LLM server at {where} is unreachable; retry later")
    if isinstance(exc, openai.APIResponseValidationError):
        return BadResponse(f"the LLM server at {where} answered in an unexpected shape")
    if isinstance(exc, openai.AuthenticationError):
        return ConfigError(f"the LLM server at {where} refused the API key (llm.api_key)")
    if isinstance(exc, openai.RateLimitError):
        if _error_code(exc) == "insufficient_quota":
            return OutOfCredits("the LLM account has no credits left")
        return RateLimited("the LLM server is rate limiting; retry later")
    if isinstance(exc, openai.PermissionDeniedError):
        return ExternalRefusal("the LLM server refused the request (permission denied)")
    if isinstance(exc, openai.BadRequestError):
        if _error_code(exc) == "content_filter":
            return ContentModerated("the LLM provider's moderation refused the prompt")
        return InvalidInput(f"the LLM server rejected the request: {_api_message(exc)}")
    if isinstance(exc, openai.NotFoundError):
        return ConfigError(f"the LLM server at {where} does not know that model or path")
    if isinstance(exc, openai.APIStatusError) and 300 <= exc.status_code < 400:
        return ConfigError(
            f"the LLM server at {where} answered with a redirect (HTTP {exc.status_code}), "
            "which is not followed: set llm.base_url to the final address"
        )
    if isinstance(exc, openai.APIStatusError):
        return ServiceUnavailable(f"the LLM server answered HTTP {exc.status_code}; retry later")
    if isinstance(exc, openai.APIError):  # e.g. an error event inside a stream
        return ServiceUnavailable(f"the LLM server at {where} reported an error; retry later")
    return exc


def _env_proxy(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY / NO_PROXY name for `url`, as the SDK's default client would
    use: giving httpx2 our own transport turns its environment lookup off."""
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


def _reply_text(response: object) -> str:
    """The first choice's text, checked: the SDK builds replies without validating them."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise BadResponse("the LLM server answered without a reply")
    choice = choices[0]
    if getattr(choice, "finish_reason", None) == "content_filter":
        raise ContentModerated("the LLM provider's moderation withheld the reply")
    message = getattr(choice, "message", None)
    content = getattr(message, "content", None) if message is not None else None
    if message is None or not isinstance(content, str | None):
        raise BadResponse("the LLM server answered without a reply")
    return content or ""


def _error_code(exc: openai.APIStatusError) -> str | None:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    return error.get("code") if isinstance(error, dict) else None


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or f"HTTP {exc.status_code}")[:200]


class LLMClient:
    """Provider-agnostic chat client. Build once; it keeps one HTTP connection pool."""

    def __init__(self, *, settings: LlmSettings) -> None:
        if settings.provider == "none":
            raise ConfigError(
                "no LLM configured: set llm.provider (openai or ollama) and llm.base_url"
            )
        self.settings = settings
        self.base_url = settings.base_url or (OLLAMA_URL if settings.provider == "ollama" else None)
        self._client: openai.AsyncOpenAI | None = None

    @property
    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai

            key = self.settings.api_key.get_secret_value() if self.settings.api_key else None
            if key is None and self.settings.provider == "openai" and self.base_url is None:
                raise ConfigError("llm.api_key is required for OpenAI (ABBY_LLM__API_KEY)")
            # Local servers ignore the key, but the SDK insists on one; passing it explicitly
            # also stops the SDK from reading OPENAI_API_KEY behind our back.
            self._client = openai.AsyncOpenAI(
                api_key=key or "unused",
                base_url=self.base_url,
                timeout=self.settings.timeout_seconds,
                max_retries=2,
                http_client=self._http_client(),
            )
        return self._client

    def _http_client(self) -> httpx2.AsyncClient:
        import httpx2

        from core.llm._transport import CappedTransport

        inner = httpx2.AsyncHTTPTransport(proxy=_env_proxy(self.base_url or OPENAI_URL))
        return httpx2.AsyncClient(
            transport=CappedTransport(inner, self._cap_for),
            # The SDK's own client follows redirects; a 307 keeps the body, so following one
            # to another host would hand it the prompt (and a same-host one is refused too).
            follow_redirects=False,
            timeout=self.settings.timeout_seconds,
            # Only what BoundedBody inflates within its cap.
            headers={"Accept-Encoding": "gzip, deflate"},
        )

    def _cap_for(self, request: httpx2.Request) -> int:
        try:
            body = json.loads(request.content)
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        tokens = body.get("max_tokens")
        if not isinstance(tokens, int) or tokens < 1:
            tokens = self.settings.max_tokens
        return response_cap(tokens, stream=body.get("stream") is True)

    def _where(self) -> str:
        return str(self.base_url or "api.openai.com")

    def _too_slow(self) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"the LLM server did not answer within {self.settings.timeout_seconds:g} s; retry later"
        )

    def _messages(
        self, prompt: str, system_prompt: str | None, history: Sequence[dict[str, str]]
    ) -> list[ChatCompletionMessageParam]:
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInput("the prompt is empty")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InvalidInput(
                f"the prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}"
            )
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system_prompt or self.settings.system_prompt}
        ]
        for turn in history:
            if turn.get("role") not in ROLES:
                raise InvalidInput(
                    f"history role {turn.get('role')!r} is not one of {sorted(ROLES)}"
                )
            # The role is one of ROLES (checked above), which the SDK's message types name.
            turn_message = {"role": turn["role"], "content": str(turn["content"])}
            messages.append(cast("ChatCompletionMessageParam", turn_message))
        messages.append({"role": "user", "content": prompt})
        return messages

    def _options(self, temperature: float | None, max_tokens: int | None) -> _Options:
        return {
            "model": self.settings.model,
            "temperature": self.settings.temperature if temperature is None else temperature,
            "max_tokens": self.settings.max_tokens if max_tokens is None else max_tokens,
        }

    async def generate(
        self,
        prompt: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        *,
        history: Sequence[dict[str, str]] = (),
    ) -> str:
        """Return the model's whole reply to `prompt` (after `history`, if given)."""
        import openai

        messages = self._messages(prompt, system_prompt, history)
        try:
            # One deadline for the request, its retries and the whole body: a server sending
            # a byte a second never trips a per-read timeout.
            async with asyncio.timeout(self.settings.timeout_seconds):
                response = await self.client.chat.completions.create(
                    messages=messages, **self._options(temperature, max_tokens)
                )
        except TimeoutError as exc:
            raise self._too_slow() from exc
        except openai.OpenAIError as exc:
            raise _translate(exc, self._where()) from exc
        except json.JSONDecodeError as exc:
            raise BadResponse(f"the LLM server at {self._where()} answered invalid JSON") from exc
        return _reply_text(response)

    async def stream_generate(
        self,
        prompt: str,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        history: Sequence[dict[str, str]] = (),
    ) -> AsyncIterator[str]:
        """Yield the reply in pieces as the server streams them.

        A server that answers a stream request with one whole JSON reply gets that reply
        yielded in one piece; a stream that ends without any event is a BadResponse.
        """
        import openai

        messages = self._messages(prompt, system_prompt, history)
        # The deadline covers the network waits only, not the caller's work between pieces,
        # which is why it wraps each await and not the yields.
        deadline = asyncio.get_running_loop().time() + self.settings.timeout_seconds
        try:
            async with asyncio.timeout_at(deadline):
                stream = await self.client.chat.completions.create(
                    messages=messages, stream=True, **self._options(temperature, max_tokens)
                )
            try:
                if "text/event-stream" not in stream.response.headers.get("content-type", ""):
                    async with asyncio.timeout_at(deadline):
                        whole = await self._whole_reply(stream.response)
                    yield whole
                    return
                chunks = aiter(stream)
                seen = False
                while True:
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks, None)
                    if chunk is None:
                        break
                    seen = True
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if choice.finish_reason == "content_filter":
                        raise ContentModerated("the LLM provider's moderation withheld the reply")
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
                if not seen:
                    raise BadResponse(f"the LLM server at {self._where()} streamed no reply")
            finally:
                await stream.close()
        except TimeoutError as exc:
            raise self._too_slow() from exc
        except openai.OpenAIError as exc:
            raise _translate(exc, self._where()) from exc
        except json.JSONDecodeError as exc:
            raise BadResponse(f"the LLM server at {self._where()} streamed invalid JSON") from exc

    async def _whole_reply(self, response: httpx2.Response) -> str:
        """Read a non-streamed answer to a stream request (the body is capped all the same)."""
        from openai.types.chat import ChatCompletion
        from pydantic import ValidationError

        try:
            completion = ChatCompletion.model_validate_json(await response.aread())
        except ValidationError as exc:
            raise BadResponse(
                f"the LLM server at {self._where()} answered a stream request with "
                "something that is neither a stream nor a reply"
            ) from exc
        return _reply_text(completion)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
