"""Answering with the community's documents as context (RAG + LLM), as the seed shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.rag.service import QueryResult

# Keep the context well inside small local models' windows.
CONTEXT_CHARS = 6_000


def build_prompt(question: str, results: Sequence[QueryResult]) -> str:
    """Retrieved chunks as context, then the question; the question alone when none."""
    if not results:
        return question
    parts, used = [], 0
    for result in results:
        text = result.text.strip()
        if used + len(text) > CONTEXT_CHARS:
            break
        parts.append(f"[{result.title or result.source}]\n{text}")
        used += len(text)
    context = "\n\n".join(parts)
    return f"Context:\n{context}\n\nQuestion: {question}"
