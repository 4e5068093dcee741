"""Search: the vector store and the lexical index together, ranked by source.

`IndexedStore` is the vector store with the lexical index (core.rag.lexical) kept in step on
every write: passages are written before their vectors and deleted after them, so a crash in
between leaves a pending record (ingest) or passages without vectors (delete), both of which
`verify --repair` and the query side tolerate. Nothing else writes chunks, so ingest,
delete, prune, re-ingest and repair keep both indexes consistent without knowing of them.

`rank` turns the candidates into results:
- dense only: by cosine similarity; hybrid: by reciprocal-rank fusion of the dense and the
  lexical rankings, each result keeping its own cosine as its score;
- by source (the default): at most `per_document` passages of one document, so one page
  with many similar chunks cannot fill the top k; `passages=True` ranks raw chunks. Dense
  only, documents are ordered by their best chunk plus their document vector's cosine
  (core.rag.documents).
Candidates: FETCH_FACTOR x top_k from each side (a document's best chunk is usually among
them), bounded by MAX_FETCH.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.ids import GLOBAL_SCOPE
from core.rag.documents import put_document_vectors, rerank
from core.rag.lexical import LexicalQuery, fuse
from core.rag.repository import Passage, PassageIndex
from core.scope import Scope

if TYPE_CHECKING:
    from core.rag.store import Hit, VectorStore

log = logging.getLogger(__name__)

FETCH_FACTOR = 8
MAX_FETCH = 400
REBUILD_BATCH = 2000


@dataclass(frozen=True)
class Ranking:
    """How to rank: per_document passages of a document at most (None: raw chunks)."""

    top_k: int
    per_document: int | None = 1
    hybrid: bool = False

    @property
    def depth(self) -> int:
        """Candidates fetched from each index."""
        if self.per_document is None and not self.hybrid:
            return self.top_k  # raw dense chunks: exactly today's vector query
        return min(MAX_FETCH, max(self.top_k * FETCH_FACTOR, self.top_k + 20))


class IndexedStore:
    """A VectorStore whose writes also update the lexical index and the document vectors
    (core.rag.documents); reads pass through."""

    def __init__(
        self,
        vectors: VectorStore,
        passages: Callable[[], PassageIndex],
        documents: VectorStore | None = None,
    ) -> None:
        self.vectors = vectors
        self._passages = passages
        self.documents = documents
        self._documents_seen = False

    @property
    def passages(self) -> PassageIndex:
        return self._passages()

    def add(
        self,
        ids: Sequence[str],
        embeddings: Any,  # noqa: ANN401 - lists or a numpy matrix
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        self.passages.put(passages_of(ids, documents, metadatas))
        self.vectors.add(ids, embeddings, documents, metadatas)
        if self.documents is not None:  # callers always add whole documents
            put_document_vectors(self.documents, embeddings, metadatas)

    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        self.vectors.delete_documents(doc_ids)
        self.passages.delete_documents(doc_ids)
        if self.documents is not None:
            self.documents.delete_ids(doc_ids)

    def document_hits(
        self,
        vector: Any,  # noqa: ANN401 - a list or a numpy row
        doc_ids: Sequence[str],
        scopes: Collection[Scope | str],
    ) -> list[Hit]:
        """These documents' vectors scored against vector (those of these scopes only); []
        for a store without document vectors, which a read never creates. Fetched by id:
        7x cheaper than a filtered vector query over the documents (1.5 ms against 10)."""
        if self.documents is None or not doc_ids:
            return []
        if not self._documents_seen:
            if not self.documents.exists():
                return []
            self._documents_seen = True
        return self.documents.score_ids(vector, doc_ids, scopes=scopes)

    def close(self) -> None:
        self.vectors.close()
        if self.documents is not None:
            self.documents.close()

    def delete_ids(self, chunk_ids: Sequence[str]) -> None:
        self.vectors.delete_ids(chunk_ids)
        self.passages.delete_ids(chunk_ids)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the vector store's attribute
        # Everything else (query, scan, count, stored_model, drop ...) is the vector store's.
        return getattr(self.vectors, name)


def passages_of(
    ids: Sequence[str], documents: Sequence[str], metadatas: Sequence[Mapping[str, Any]]
) -> list[Passage]:
    return [
        Passage(
            chunk_id=chunk_id,
            doc_id=str(meta.get("doc_id", "")),
            scope=str(meta.get("scope", GLOBAL_SCOPE)),
            title=str(meta.get("title", "")),
            heading=str(meta.get("heading", "")),
            text=text,
        )
        for chunk_id, text, meta in zip(ids, documents, metadatas, strict=True)
    ]


def rebuild_passages(
    vectors: VectorStore, passages: PassageIndex, doc_ids: set[str] | None = None
) -> int:
    """Write the passages of every chunk in the vector store (or of these documents).

    The migration of a store made before the lexical index existed, and the repair of one
    out of step; idempotent (passages are replaced by chunk id). Returns passages written.
    """
    if doc_ids is not None:
        passages.delete_documents(sorted(doc_ids))
    written = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal written
        passages.put(
            passages_of(
                [r["id"] for r in batch],
                [r["document"] for r in batch],
                [r["metadata"] for r in batch],
            )
        )
        written += len(batch)
        batch.clear()

    for row in vectors.scan(documents=True):
        if doc_ids is None or str(row["metadata"].get("doc_id", "")) in doc_ids:
            batch.append(row)
            if len(batch) >= REBUILD_BATCH:
                flush()
    if batch:
        flush()
    return written


def candidates(
    store: IndexedStore | VectorStore,
    passages: PassageIndex | None,
    vector: Any,  # noqa: ANN401 - a list or a numpy row
    lexical: LexicalQuery,
    *,
    scopes: Collection[Scope | str],
    ranking: Ranking,
) -> list[Hit]:
    """Dense hits of these scopes, fused with lexical ones when hybrid (each with its cosine
    score); the stores filter by scope inside each search."""
    dense = store.query(vector, scopes=scopes, top_k=ranking.depth)
    if not ranking.hybrid and ranking.per_document is not None:
        if isinstance(store, IndexedStore):  # documents by their chunks and their whole
            doc_ids = list(dict.fromkeys(str(h.metadata.get("doc_id", "")) for h in dense))
            return rerank(dense, store.document_hits(vector, doc_ids, scopes))
        return dense
    if not ranking.hybrid or passages is None or not lexical:
        return dense
    found = passages.search(lexical, scopes=scopes, limit=ranking.depth)
    if not found:
        return dense
    by_id = {hit.chunk_id: hit for hit in dense}
    extra = [h.chunk_id for h in found if h.chunk_id not in by_id]
    # Scope checked again on the vectors' metadata: a stale passage never leaks a scope.
    by_id.update((hit.chunk_id, hit) for hit in store.score_ids(vector, extra, scopes=scopes))
    order = fuse(
        [hit.chunk_id for hit in dense], [h.chunk_id for h in found if h.chunk_id in by_id]
    )
    return [by_id[chunk_id] for chunk_id in order]


def select(hits: Sequence[Hit], ranking: Ranking) -> list[Hit]:
    """The first top_k hits, at most per_document of each document (None: no limit)."""
    if ranking.per_document is None:
        return list(hits[: ranking.top_k])
    taken: dict[str, int] = {}
    chosen: list[Hit] = []
    for hit in hits:
        doc_id = str(hit.metadata.get("doc_id", hit.chunk_id))
        if taken.get(doc_id, 0) >= ranking.per_document:
            continue
        taken[doc_id] = taken.get(doc_id, 0) + 1
        chosen.append(hit)
        if len(chosen) >= ranking.top_k:
            break
    return chosen


__all__ = ["IndexedStore", "Ranking", "candidates", "rebuild_passages", "select"]
