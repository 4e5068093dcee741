"""RAG document records: what the knowledge base holds, kept in the document database.

Chunks and vectors live in Chroma; the record of each document (who added it, where from,
its content hash, how many chunks it has and which model embedded them) lives here, so the
two can be reconciled. A record is `pending` while its vectors are being written and
`ready` after: a crash in between leaves a pending record that `verify` finds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from core.db.records import Field, Portable, Table
from core.ids import GLOBAL_SCOPE
from core.scope import Scope

if TYPE_CHECKING:
    from core.rag.lexical import LexicalQuery

State = Literal["pending", "ready"]
PENDING: State = "pending"
READY: State = "ready"
# Every scope: the default of a read that does not filter by scope.
EVERY: tuple[Scope, ...] = (Scope.EVERY,)


def scope_keys(scopes: Iterable[Scope | str]) -> list[str] | None:
    """The stored keys of these scopes (Scope values or keys), each once, in order; None
    (no filter) when one of them is Scope.EVERY."""
    keys: list[str] = []
    for scope in scopes:
        if isinstance(scope, Scope):
            if scope.is_every:
                return None
            scope = scope.key
        if scope not in keys:
            keys.append(scope)
    return keys


def stored_key(scope: Scope | str) -> str:
    """The stored key of one scope (a Scope value, or already a key)."""
    return scope.key if isinstance(scope, Scope) else scope


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
        """The stored scope key (GLOBAL_SCOPE for global), as Scope.of(guild_id).key."""
        return GLOBAL_SCOPE if self.guild_id is None else self.guild_id


class DocumentRepository(Portable, ABC):
    """Document records keyed by doc id; (scope, source) is unique too."""

    # The vectors live in Chroma and are not in these records (keep the Chroma store, or
    # re-ingest); the lexical index is derived from them (`abby rag verify --repair`).
    TABLES = (
        Table(
            "rag_documents",
            key=("doc_id",),
            fields=(
                *(Field(name) for name in ("doc_id", "scope", "title", "source", "user_id")),
                Field("tags", "json"),
                Field("content_hash"),
                Field("chunk_count", "int"),
                Field("ingested_at", "time"),
                Field("embedding_model"),
                Field("state"),
            ),
            id_field="doc_id",
        ),
        # Each document's line keys (core.rag.boilerplate): one record per document.
        Table(
            "rag_lines",
            key=("doc_id",),
            fields=(Field("doc_id"), Field("scope"), Field("lines", "json")),
            id_field="doc_id",
            sqlite_rows_of=("lines", "line"),
        ),
    )

    @abstractmethod
    def get(self, doc_id: str) -> DocumentRecord | None: ...

    @abstractmethod
    def find(
        self,
        *,
        scopes: Iterable[Scope | str] = EVERY,
        user_id: str | None = None,
        source_prefix: str | None = None,
        state: State | None = None,
    ) -> list[DocumentRecord]:
        """Records of any of these scopes matching every other filter given, ordered by
        source then doc id."""

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
        """Delete these records (and their line keys); return how many records existed."""

    @abstractmethod
    def put_lines(self, scope: Scope | str, lines: Mapping[str, Collection[str]]) -> None:
        """Replace the line keys of these documents (doc id -> keys; core.rag.boilerplate)."""

    @abstractmethod
    def template_lines(self, scope: Scope | str, *, document_key: str, threshold: int) -> set[str]:
        """Keys that at least threshold of the scope's documents hold, document_key aside."""

    @abstractmethod
    def line_documents(self, scope: Scope | str, *, document_key: str) -> int:
        """How many of the scope's documents have line keys (those holding document_key)."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """documents, pending, chunks (sum of chunk counts), scopes."""

    @abstractmethod
    def passages(self) -> PassageIndex:
        """The lexical index of the chunks, in the same database."""


@dataclass(frozen=True)
class Passage:
    """One chunk in the lexical index: the chunk id and text, and where it belongs."""

    chunk_id: str
    doc_id: str
    scope: str
    title: str
    heading: str
    text: str


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: str
    doc_id: str
    score: float  # higher is better; comparable only within one query


class PassageIndex(ABC):
    """The lexical index of the chunks, in the document store (core.rag.lexical).

    Derived data: rebuilt from the vector store's chunks when missing (a migrated store) or
    out of step (`abby rag verify --repair`); not part of an export.
    """

    @abstractmethod
    def put(self, passages: Sequence[Passage]) -> None:
        """Insert or replace these passages (by chunk id)."""

    @abstractmethod
    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        """Remove every passage of these documents."""

    @abstractmethod
    def delete_ids(self, chunk_ids: Sequence[str]) -> None:
        """Remove these passages."""

    @abstractmethod
    def search(
        self, query: LexicalQuery, *, scopes: Iterable[Scope | str], limit: int
    ) -> list[LexicalHit]:
        """The best limit passages of these scopes (Scope values or keys), best first.

        The scope filter is part of the search, so another scope's passages can neither
        appear nor use up the limit.
        """

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Passages per document id."""

    @abstractmethod
    def empty(self) -> bool:
        """True when the index holds no passage at all (not built yet)."""
