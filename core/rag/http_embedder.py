"""The HTTP embedder: any OpenAI-compatible ``/v1/embeddings`` (OpenAI, Ollama), through the
official SDK, which is imported only when one is built."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np
from pydantic import SecretStr

from core.errors import (
    AbbyError,
    ConfigError,
    InvalidInput,
    RateLimited,
    ServiceUnavailable,
)
from core.rag.embedding_models import OPENAI_DEFAULT_BASE_URL, OPENAI_DIMENSIONS
from core.rag.local_embedder import TOKENIZER_PATH, load_tokenizer

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)


def _safe_origin(url: str) -> str:
    # For messages: scheme, host and port only, so no credentials or query string leak.
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


class OpenAIEmbedder:
    """Any OpenAI-compatible /v1/embeddings endpoint, through the official openai SDK.

    count_tokens uses the bundled all-MiniLM-L6-v2 WordPiece tokenizer: the remote model's
    tokenizer is unknown, and WordPiece counts run at or above BPE counts for most text, so
    chunks sized with it fit the remote model too.
    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: SecretStr | str | None = None,
        timeout_seconds: float = 30.0,
        batch_size: int = 32,
        max_retries: int = 2,
        dimension: int | None = None,
    ) -> None:
        import openai

        if batch_size < 1:
            raise InvalidInput(f"batch_size must be at least 1, got {batch_size}")
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not key:
            if base_url is None:
                raise ConfigError(
                    "embeddings.api_key is required when embeddings.provider is openai"
                )
            # Local servers (Ollama, llama.cpp) ignore the key, but the SDK insists on one;
            # passing it explicitly also stops the SDK from reading OPENAI_API_KEY.
            key = "unused"
        self.model_name = model
        self.batch_size = batch_size
        self.base_url = base_url or OPENAI_DEFAULT_BASE_URL
        self._origin = _safe_origin(self.base_url)
        self._dimension = dimension or OPENAI_DIMENSIONS.get(model)
        self._client = openai.OpenAI(
            api_key=key, base_url=self.base_url, timeout=timeout_seconds, max_retries=max_retries
        )

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model_name!r}, base_url={self._origin!r})"

    @property
    def dimension(self) -> int:
        """Vector length; asks the endpoint once when the model is not a known one."""
        if self._dimension is None:
            self.embed(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    def count_tokens(self, text: str) -> int:
        """Return the WordPiece token count of text (see the class docstring)."""
        return len(load_tokenizer(TOKENIZER_PATH, None).encode(text, add_special_tokens=False))

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one unit-length vector per text, in input order; [] for no texts.

        Raises ServiceUnavailable (unreachable, 5xx), RateLimited (429), ConfigError (401, 403,
        404: key or model wrong) and InvalidInput (400, 413, 422: e.g. an empty string).
        """
        if isinstance(texts, str):
            raise InvalidInput("embed() takes a sequence of texts, not one string")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._embed_batch(list(texts[start : start + self.batch_size])))
        return vectors

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        import openai

        started = time.perf_counter()
        try:
            # "float" explicitly: the SDK otherwise asks for base64, which not every
            # OpenAI-compatible server implements.
            response = self._client.embeddings.create(
                model=self.model_name, input=batch, encoding_format="float"
            )
        except openai.APIError as exc:
            mapped = self._translate(exc)
            if mapped is None:
                raise  # an unexpected status is a bug to see, not to disguise
            raise mapped from exc
        items = sorted(response.data, key=lambda item: item.index)
        if len(items) != len(batch):
            raise AbbyError(
                f"embedding service at {self._origin} returned {len(items)} vectors "
                f"for {len(batch)} texts"
            )
        vectors = np.asarray([item.embedding for item in items], dtype=np.float32)
        if self._dimension is None:
            self._dimension = int(vectors.shape[1])
        elif vectors.shape[1] != self._dimension:
            raise ConfigError(
                f"embedding model {self.model_name!r} returned {vectors.shape[1]} dimensions, "
                f"expected {self._dimension}"
            )
        # OpenAI's vectors are already unit length; other servers' may not be.
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        log.debug(
            "embedded %d texts via %s in %.2f s",
            len(batch),
            self._origin,
            time.perf_counter() - started,
        )
        return vectors.tolist()

    def _translate(self, exc: openai.APIError) -> AbbyError | None:
        # Messages name the server and the status, never the server's text: OpenAI echoes
        # part of a wrong key in its 401 message.
        import openai

        where = f"embedding service at {self._origin}"
        if isinstance(exc, openai.APITimeoutError):
            return ServiceUnavailable(f"{where} timed out", service="embeddings")
        if isinstance(exc, openai.APIConnectionError):
            return ServiceUnavailable(f"{where} is unreachable", service="embeddings")
        if not isinstance(exc, openai.APIStatusError):
            return ServiceUnavailable(f"{where} sent an invalid response", service="embeddings")
        status = exc.status_code
        if status == 429:
            return RateLimited(f"{where} is rate limiting requests (429)", service="embeddings")
        if status in (401, 403):
            return ConfigError(f"{where} refused the API key ({status}): check embeddings.api_key")
        if status == 404:
            return ConfigError(
                f"{where} has no model {self.model_name!r} or no /embeddings route (404): "
                "check embeddings.model and embeddings.base_url"
            )
        if status in (400, 413, 422):
            return InvalidInput(f"{where} rejected the input ({status})", status=status)
        if status >= 500 or status in (408, 409):
            return ServiceUnavailable(f"{where} failed ({status})", service="embeddings")
        return None
