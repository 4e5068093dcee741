"""Document vectors on both backends: one per document, the mean of its chunks, kept in step
with ingest, re-ingest and delete, filtered by scope, and used to order documents."""

from __future__ import annotations

import numpy as np
import pytest

from core.rag import documents
from core.rag.service import RagService
from core.rag.store import Hit
from core.scope import Scope
from tests.core.rag_support import embedder, rag

__all__ = ["embedder", "rag"]  # fixtures

PAGES = {
    "hashes": "# Checksums\n\n"
    + "\n\n".join(
        f"## Part {i}\n\nPrint or check SHA-256 checksums of files, {i}." for i in range(4)
    ),
    "timing": "# Priority\n\nRun a program with a lower scheduling priority so it gets less CPU.",
    "backup": "# Backups\n\nCopy a folder to another disk every night and keep a week of copies.",
}


def _ingest(rag: RagService, guild_id: str | None = "g1") -> None:
    for key, text in PAGES.items():
        rag.ingest_text(key, key.title(), text, guild_id=guild_id)


def _stored(rag: RagService) -> dict[str, dict]:
    """doc id -> {"vector", "scope"} as the document collection holds them."""
    store = rag.store.documents
    assert store is not None and store.exists()
    with store._reading() as collection:
        page = collection.get(include=["embeddings", "metadatas"])
    return {
        i: {"vector": np.asarray(v), "scope": m["scope"]}
        for i, v, m in zip(page["ids"], page["embeddings"], page["metadatas"], strict=True)
    }


def _chunk_vectors(rag: RagService, doc_id: str) -> np.ndarray:
    with rag.store.vectors._reading() as collection:
        page = collection.get(where={"doc_id": doc_id}, include=["embeddings"])
    return np.asarray(page["embeddings"], dtype=np.float32)


def test_each_document_has_the_mean_of_its_chunk_vectors(rag: RagService) -> None:
    _ingest(rag)
    stored = _stored(rag)
    records = {r.doc_id: r for r in rag.list(Scope.of("g1"))}
    assert set(stored) == set(records)
    for doc_id, row in stored.items():
        chunks = _chunk_vectors(rag, doc_id)
        assert len(chunks) == records[doc_id].chunk_count
        mean = (chunks / np.linalg.norm(chunks, axis=1, keepdims=True)).mean(axis=0)
        assert row["vector"] @ (mean / np.linalg.norm(mean)) == pytest.approx(1.0, abs=1e-5)
        assert row["scope"] == "g1"
    assert max(len(_chunk_vectors(rag, d)) for d in stored) > 1  # a mean of several


@pytest.mark.slow
def test_reingest_replaces_and_delete_removes_the_document_vector(rag: RagService) -> None:
    _ingest(rag)
    doc_id = next(r.doc_id for r in rag.list(Scope.of("g1")) if r.title == "Timing")
    before = _stored(rag)[doc_id]["vector"]
    rag.ingest_text("timing", "Timing", "# Tea\n\nBrew green tea for two minutes.", guild_id="g1")
    after = _stored(rag)[doc_id]["vector"]
    assert float(before @ after) < 0.9  # the new text's vector, not the old one kept
    chunk = _chunk_vectors(rag, doc_id)[0]
    assert float(after @ (chunk / np.linalg.norm(chunk))) == pytest.approx(1.0, abs=1e-5)
    rag.delete(doc_id, guild_id="g1")
    assert doc_id not in _stored(rag) and len(_stored(rag)) == 2


def test_documents_are_ordered_by_their_document_vectors_inside_the_scope(
    rag: RagService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the document weight made overwhelming, the order is the document cosine's; an
    exact copy of the question in another guild never enters, as a chunk or a document."""
    _ingest(rag)
    question = "how do I verify SHA-256 checksums of downloaded files?"
    rag.ingest_text("b", "Theirs", f"{question} {question}", guild_id="g2")
    monkeypatch.setattr(documents, "DOCUMENT_WEIGHT", 100.0)
    results = rag.query(question, guild_id="g1", top_k=3, min_score=-1.0)
    assert {r.guild_id for r in results} == {"g1"}
    vector = np.asarray(rag.embedder.embed([question])[0])
    stored = _stored(rag)
    expected = sorted(
        (d for d, row in stored.items() if row["scope"] == "g1"),
        key=lambda d: -float(stored[d]["vector"] @ vector),
    )
    assert [r.doc_id for r in results] == expected
    every = list(stored)  # g2's document too: its vector is never scored for g1
    hits = rag.store.document_hits(vector, every, ["g1", ""])
    assert {h.metadata["scope"] for h in hits} == {"g1"} and len(hits) == len(expected)


def test_a_store_without_document_vectors_still_answers_by_best_chunk(rag: RagService) -> None:
    _ingest(rag, guild_id=None)
    best_chunk = rag.query("lower the CPU priority of a program", min_score=-1.0)
    rag.store.documents.drop()
    rag.close()
    again = rag.query("lower the CPU priority of a program", min_score=-1.0)
    assert again and again[0].title == "Timing"
    assert [r.score for r in again] == sorted((r.score for r in again), reverse=True)
    assert {r.doc_id for r in again} == {r.doc_id for r in best_chunk}
    assert not rag.store.documents.exists()  # a query never creates it


def test_rerank_orders_documents_and_keeps_each_hits_cosine() -> None:
    def hit(chunk: str, doc: str, score: float) -> Hit:
        return Hit(chunk, chunk, score, {"doc_id": doc})

    hits = [
        hit("a:0", "a", 0.60),
        hit("b:0", "b", 0.58),
        hit("a:1", "a", 0.55),
        hit("c:0", "c", 0.5),
    ]
    docs = [hit("b", "b", 0.9), hit("a", "a", 0.2)]  # c has none: the lowest seen (0.2)
    ranked = documents.rerank(hits, docs)
    assert [h.chunk_id for h in ranked] == ["b:0", "a:0", "a:1", "c:0"]
    assert [h.score for h in ranked] == [0.58, 0.60, 0.55, 0.5]
    assert documents.rerank(hits, []) == hits
