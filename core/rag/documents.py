"""Document vectors: one per document, the mean of its chunks' vectors, in a sibling collection.

A chunk's cosine says how well one passage matches; on reference pages written by others
that is often a near neighbour's passage (sha1sum's for a sha256sum question, renice's for
nice). The mean of a document's chunk vectors says what the whole page is about. Ranking
documents by their best chunk plus DOCUMENT_WEIGHT x the query's cosine to the document
vector lifted MRR on the external evaluation (docs/rag.md) from 0.767 to 0.784 and recall@5
from 0.939 to 0.948 with the fp32 model (not with the int8 one); the weight was chosen on one
half of the questions only.

The vectors live in Chroma beside the chunks (`<collection>-documents`), so they follow the
vector store on both document backends; they are derived data, written whenever a
document's chunks are (IndexedStore.add always receives whole documents) and deleted with
them. A store without them (made before) ranks by best chunk alone until reindexed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from core.ids import GLOBAL_SCOPE

if TYPE_CHECKING:
    from core.rag.store import Hit, VectorStore

DOCUMENT_SUFFIX = "-documents"
# Chosen on the even-numbered questions of scripts/external_eval/questions.jsonl (0.1-1.0
# tried; 0.3 to 0.5 were within 0.001 MRR there), reported on the odd ones and on all.
DOCUMENT_WEIGHT = 0.3


def document_vectors(
    embeddings: Sequence[Sequence[float]] | Any,  # noqa: ANN401 - lists or a numpy matrix
    metadatas: Sequence[Mapping[str, Any]],
) -> tuple[list[str], list[list[float]], list[dict[str, Any]]]:
    """(doc ids, unit mean vectors, metadata) of the documents whose chunks these are."""
    import numpy as np

    rows: dict[str, list[int]] = {}
    for i, meta in enumerate(metadatas):
        rows.setdefault(str(meta.get("doc_id", "")), []).append(i)
    rows.pop("", None)
    if not rows:
        return [], [], []
    matrix = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms == 0, 1.0, norms)
    ids: list[str] = []
    vectors: list[list[float]] = []
    metas: list[dict[str, Any]] = []
    for doc_id, indexes in rows.items():
        mean = matrix[indexes].mean(axis=0)
        length = float(np.linalg.norm(mean)) or 1.0
        ids.append(doc_id)
        vectors.append((mean / length).tolist())
        first = metadatas[indexes[0]]
        metas.append({"doc_id": doc_id, "scope": str(first.get("scope", GLOBAL_SCOPE))})
    return ids, vectors, metas


def put_document_vectors(
    store: VectorStore,
    embeddings: Sequence[Sequence[float]] | Any,  # noqa: ANN401 - lists or a numpy matrix
    metadatas: Sequence[Mapping[str, Any]],
) -> None:
    """Write (replacing) the document vectors of the documents of these chunks."""
    ids, vectors, metas = document_vectors(embeddings, metadatas)
    if ids:
        store.delete_ids(ids)  # Chroma's add keeps an existing id's old vector
        store.add(ids, vectors, [""] * len(ids), metas)


def rerank(hits: Sequence[Hit], documents: Sequence[Hit]) -> list[Hit]:
    """Hits grouped by document, documents by best chunk + weight x document cosine.

    `documents` are the candidates' document vectors scored as hits (doc id in metadata); a
    candidate without one gets the lowest document cosine seen. Each hit keeps its own cosine
    as its score; only the order changes. Without document vectors (an older store) the
    order is unchanged.
    """
    if not documents or not hits:
        return list(hits)
    similarity = {str(d.metadata.get("doc_id", d.chunk_id)): d.score for d in documents}
    floor = min(similarity.values())
    best: dict[str, float] = {}
    for hit in hits:
        doc_id = str(hit.metadata.get("doc_id", hit.chunk_id))
        best.setdefault(doc_id, hit.score)  # hits come best first
    ranked = {
        doc_id: score + DOCUMENT_WEIGHT * similarity.get(doc_id, floor)
        for doc_id, score in best.items()
    }
    order = {doc_id: n for n, doc_id in enumerate(sorted(ranked, key=lambda d: -ranked[d]))}
    return sorted(hits, key=lambda h: order[str(h.metadata.get("doc_id", h.chunk_id))])


__all__ = [
    "DOCUMENT_SUFFIX",
    "DOCUMENT_WEIGHT",
    "document_vectors",
    "put_document_vectors",
    "rerank",
]
