"""LLM client: any OpenAI-compatible chat server (OpenAI, Ollama, llama.cpp) through the SDK.

The seed's `generate()` returns the whole reply; `stream_generate()` yields it piece by piece.
Provider errors are translated at this boundary into Abby's vocabulary, cause kept, with no
prompt text or API key in any message.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from core.config import LlmSettings
from core.errors import (
    ConfigError,
    ContentModerated,
    ExternalRefusal,
    InvalidInput,
    OutOfCredits,
    RateLimited,
    ServiceUnavailable,
)

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

OLLAMA_URL = "http://localhost:11434/v1"
MAX_PROMPT_CHARS = 32_000
ROLES = frozenset({"system", "user", "assistant"})


def _translate(exc: Exception, where: str) -> Exception:
    import openai

    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return ServiceUnavailable(f"the LLM server at {where} is unreachable; retry later")
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
    if isinstance(exc, openai.APIStatusError):
        return ServiceUnavailable(f"the LLM server answered HTTP {exc.status_code}; retry later")
    return exc


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
            )
        return self._client

    def _messages(
        self, prompt: str, system_prompt: str | None, history: Sequence[dict[str, str]]
    ) -> list[dict[str, str]]:
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInput("the prompt is empty")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InvalidInput(
                f"the prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}"
            )
        messages = [{"role": "system", "content": system_prompt or self.settings.system_prompt}]
        for turn in history:
            if turn.get("role") not in ROLES:
                raise InvalidInput(
                    f"history role {turn.get('role')!r} is not one of {sorted(ROLES)}"
                )
            messages.append({"role": turn["role"], "content": str(turn["content"])})
        messages.append({"role": "user", "content": prompt})
        return messages

    def _options(self, temperature: float | None, max_tokens: int | None) -> dict[str, Any]:
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
            response = await self.client.chat.completions.create(
                messages=messages, **self._options(temperature, max_tokens)
            )
        except openai.OpenAIError as exc:
            raise _translate(exc, str(self.base_url or "api.openai.com")) from exc
        choice = response.choices[0]
        if choice.finish_reason == "content_filter":
            raise ContentModerated("the LLM provider's moderation withheld the reply")
        return choice.message.content or ""

    async def stream_generate(
        self,
        prompt: str,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        history: Sequence[dict[str, str]] = (),
    ) -> AsyncIterator[str]:
        """Yield the reply in pieces as the server streams them."""
        import openai

        messages = self._messages(prompt, system_prompt, history)
        try:
            stream = await self.client.chat.completions.create(
                messages=messages, stream=True, **self._options(temperature, max_tokens)
            )
            async for chunk in stream:
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if choice.finish_reason == "content_filter":
                    raise ContentModerated("the LLM provider's moderation withheld the reply")
                if choice.delta and choice.delta.content:
                    yield choice.delta.content
        except openai.OpenAIError as exc:
            raise _translate(exc, str(self.base_url or "api.openai.com")) from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
