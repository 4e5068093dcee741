"""Retrieval-augmented generation: a per-guild knowledge base that works offline.

The seed's functions below are one-line shortcuts onto the current context's `RagService`
(`core.context.current().rag`); they return plain dicts and lists. Heavy parts (Chroma,
onnxruntime) are imported only when a query or an ingest needs them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any

from core.scope import Scope

# onnxruntime writes a telemetry device id under ~/.cache/Microsoft when it is first imported;
# Abby writes nothing outside its data dir. Every import of onnxruntime or chromadb in Abby
# goes through this package, so this runs first. An operator's own setting is kept.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__all__ = ["delete_document", "ingest", "list_documents", "query"]


def ingest(
    source: str,
    title: str,
    text: str,
    user_id: str | None = None,
    guild_id: str | None = None,
    tags: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Ingest one text; returns {doc_id, status (added|updated|unchanged), chunks, ...}."""
    from core.context import current

    result = current().rag.ingest_text(
        source, title, text, user_id=user_id, guild_id=guild_id, tags=tags
    )
    return dataclasses.asdict(result)


def query(
    text: str,
    user_id: str | None = None,
    guild_id: str | None = None,
    top_k: int | None = None,
    min_score: float | None = None,
) -> list[dict[str, Any]]:
    """Return the closest chunks a guild may see: dicts with text, score, doc_id, title, ..."""
    from core.context import current

    results = current().rag.query(
        text, guild_id=guild_id, user_id=user_id, top_k=top_k, min_score=min_score
    )
    return [dataclasses.asdict(result) for result in results]


def delete_document(doc_id: str, guild_id: str | None = None) -> bool:
    """Delete a document and its chunks; False when there is no such document (in guild_id)."""
    from core.context import current
    from core.errors import UnknownDocument

    try:
        current().rag.delete(doc_id, guild_id=guild_id)
    except UnknownDocument:
        return False
    return True


def list_documents(user_id: str | None = None, guild_id: str | None = None) -> list[dict[str, Any]]:
    """Documents a guild can see (its own and global ones), optionally only one user's."""
    from core.context import current

    return [
        dataclasses.asdict(record)
        for record in current().rag.list(Scope.of(guild_id), user_id=user_id)
    ]
