"""Sentence embeddings for RAG: what an embedder is, and which one the settings pick.

Two embedders implement `Embedder`, each in its own module: ``LocalEmbedder``
(core.rag.local_embedder) runs the bundled all-MiniLM-L6-v2 offline; ``OpenAIEmbedder``
(core.rag.http_embedder) calls any OpenAI-compatible ``/v1/embeddings``. ``build_embedder``
picks one from ``EmbeddingSettings``. Both return plain ``list[list[float]]``, one
unit-length vector per input text, in input order.

This module imports neither model: the names below (core.rag.embedding_models) are plain
constants, and the embedder classes are still importable from here, loaded on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.errors import ConfigError
from core.rag.embedding_models import (
    LOCAL_DEFAULT_MODEL,
    LOCAL_DIMENSION,
    LOCAL_INT8_MODEL_NAME,
    LOCAL_INT8_ROW_MODEL_NAME,
    LOCAL_MODEL_ALIASES,
    LOCAL_MODEL_FAMILY,
    LOCAL_MODEL_NAME,
    OPENAI_DEFAULT_BASE_URL,
    OPENAI_DIMENSIONS,
)

if TYPE_CHECKING:
    from core.config import EmbeddingSettings


@runtime_checkable
class Embedder(Protocol):
    """What RAG needs from an embedding model."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one unit-length vector per text, in the order given; [] for no texts."""
        ...

    def count_tokens(self, text: str) -> int:
        """Return the number of WordPiece tokens in text, without special tokens."""
        ...


def build_embedder(settings: EmbeddingSettings, *, cache_dir: Path | None = None) -> Embedder:
    """Return the embedder that settings describe; raise ConfigError if they cannot work.

    `cache_dir` is where the local model may keep its fused graph (see LocalEmbedder)."""
    if settings.provider == "local":
        if settings.model in (LOCAL_INT8_ROW_MODEL_NAME, LOCAL_INT8_MODEL_NAME):
            name = settings.model
        elif settings.model in LOCAL_MODEL_ALIASES:
            name = LOCAL_MODEL_NAME
        else:
            raise ConfigError(
                f"embeddings.model: the local provider runs {LOCAL_INT8_ROW_MODEL_NAME}, "
                f"{LOCAL_INT8_MODEL_NAME} or {LOCAL_MODEL_NAME}, not {settings.model!r} "
                "(use provider openai for others)"
            )
        from core.rag.local_embedder import LocalEmbedder

        return LocalEmbedder(batch_size=settings.batch_size, cache_dir=cache_dir, model_name=name)
    from core.rag.http_embedder import OpenAIEmbedder

    return OpenAIEmbedder(
        model=settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key,
        timeout_seconds=settings.timeout_seconds,
        batch_size=settings.batch_size,
    )


# Names of the local embedder's module, still importable from here (tests and scripts).
_LOCAL_NAMES = frozenset(
    {
        "DEFAULT_MAX_BATCH_TOKENS",
        "LocalEmbedder",
        "MAX_TOKENS",
        "MODEL_DIR",
        "TOKENIZER_PATH",
        "_cpu_count",
        "default_model_path",
        "load_session",
        "load_tokenizer",
    }
)


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whichever name was moved
    """Load an embedder's module only when one of its names is asked for from here."""
    if name == "OpenAIEmbedder":
        from core.rag.http_embedder import OpenAIEmbedder

        return OpenAIEmbedder
    if name in _LOCAL_NAMES:
        import core.rag.local_embedder as local

        return getattr(local, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LOCAL_DEFAULT_MODEL",
    "LOCAL_DIMENSION",
    "LOCAL_INT8_MODEL_NAME",
    "LOCAL_INT8_ROW_MODEL_NAME",
    "LOCAL_MODEL_ALIASES",
    "LOCAL_MODEL_FAMILY",
    "LOCAL_MODEL_NAME",
    "OPENAI_DEFAULT_BASE_URL",
    "OPENAI_DIMENSIONS",
    "Embedder",
    "build_embedder",
]
