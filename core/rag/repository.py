"""RAG document records: what the knowledge base holds, kept in the document database.

Chunks and vectors live in Chroma; the record of each document (who added it, where from,
its content hash, how many chunks it has and which model embedded them) lives here, so the
two can be reconciled. A record is `pending` while its vectors are being written and
`ready` after: a crash in between leaves a pending record that `verify` finds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

State = Literal["pending", "ready"]
PENDING: State = "pending"
READY: State = "ready"


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str
    guild_id: str | None  # None = the global scope
    title: str
    source: str
    user_id: str | None
    tags: tuple[str, ...]
    content_hash: str
    chunk_count: int
    ingested_at: datetime
    embedding_model: str
    state: State

    @property
    def scope(self) -> str:
        """The stored scope key ("" for global), as core.ids.scope_key gives it."""
        return "" if self.guild_id is None else self.guild_id


class DocumentRepository(ABC):
    """Document records keyed by doc id; (scope, source) is unique too."""

    @abstractmethod
    def get(self, doc_id: str) -> DocumentRecord | None: ...

    @abstractmethod
    def get_many(self, doc_ids: Iterable[str]) -> dict[str, DocumentRecord]:
        """The records among doc_ids that exist, by doc id (one round trip)."""

    @abstractmethod
    def find(
        self,
        *,
        scopes: Sequence[str] | None = None,
        user_id: str | None = None,
        source_prefix: str | None = None,
        state: State | None = None,
    ) -> list[DocumentRecord]:
        """Records matching every given filter, ordered by source then doc id."""

    @abstractmethod
    def put_pending(self, records: Sequence[DocumentRecord]) -> None:
        """Insert or replace each record with state pending (one transaction when possible)."""

    @abstractmethod
    def mark_ready(self, doc_ids: Sequence[str]) -> int:
        """Set state ready on these records; return how many changed."""

    @abstractmethod
    def set_model(self, embedding_model: str) -> int:
        """Record that every document is now embedded by this model (after a reindex)."""

    @abstractmethod
    def delete(self, doc_ids: Sequence[str]) -> int:
        """Delete these records; return how many existed."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """documents, pending, chunks (sum of chunk counts), scopes."""
