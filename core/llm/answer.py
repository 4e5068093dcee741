"""Answering a question with the community's documents as context (RAG + LLM)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CONTEXT_CHARS = 6_000


def build_prompt(question: str, results: Sequence[dict[str, Any]]) -> str:
    """The seed's recipe: retrieved chunks as context, then the question."""
    if not results:
        return question
    parts, used = [], 0
    for result in results:
        text = str(result["text"]).strip()
        if used + len(text) > CONTEXT_CHARS:
            break
        parts.append(f"[{result.get('title') or result.get('source')}]\n{text}")
        used += len(text)
    context = "\n\n".join(parts)
    return f"Context:\n{context}\n\nQuestion: {question}"
