"""The result of a knowledge-base query: one type from the core to every front end.

`RagService.query` returns `QueryResult`s; the CLI's table and JSON, the bot's embed and the
assistant's prompt read them as they are, and the seed's `core.rag.query` hands out
`dataclasses.asdict` of each (the seed's dict shape: the fields below, nothing more).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.ids import GLOBAL_SCOPE
from core.rag.relevance import is_weak
from core.scope import Scope

if TYPE_CHECKING:
    from core.rag.store import Hit


@dataclass(frozen=True)
class QueryResult:
    """One retrieved chunk; score is cosine similarity in [-1, 1], higher is closer."""

    text: str
    score: float
    doc_id: str
    title: str
    source: str
    chunk: int
    guild_id: str | None
    heading: str

    @classmethod
    def of(cls, hit: Hit) -> QueryResult:
        """The result of a vector-store hit (its metadata as the ingest wrote it)."""
        meta = hit.metadata
        return cls(
            text=hit.text,
            score=round(hit.score, 6),
            doc_id=str(meta.get("doc_id", "")),
            title=str(meta.get("title", "")),
            source=str(meta.get("source", "")),
            chunk=int(meta.get("chunk", 0)),
            guild_id=Scope.from_key(str(meta.get("scope", GLOBAL_SCOPE))).guild_id,
            heading=str(meta.get("heading", "")),
        )

    @property
    def weak(self) -> bool:
        """Below the calibrated floor (core.rag.relevance): probably not an answer."""
        return is_weak(self.score)


__all__ = ["QueryResult"]
