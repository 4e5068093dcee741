"""The RAG document-records contract: every behaviour holds on SQLite and on MongoDB."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from core.context import AppContext
from core.rag.repository import DocumentRecord, DocumentRepository

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _record(
    doc_id: str, source: str, guild_id: str | None = "g1", **fields: object
) -> DocumentRecord:
    base = DocumentRecord(
        doc_id=doc_id,
        guild_id=guild_id,
        title=f"Title {doc_id}",
        source=source,
        user_id="u1",
        tags=("a", "b"),
        content_hash="h-" + doc_id,
        chunk_count=3,
        ingested_at=NOW,
        embedding_model="all-MiniLM-L6-v2",
        state="pending",
    )
    return replace(base, **fields)


def _repo(context: AppContext) -> DocumentRepository:
    return context.rag.repo


def test_records_start_pending_and_become_ready(context: AppContext) -> None:
    repo = _repo(context)
    repo.put_pending([_record("d1", "/docs/a.md"), _record("d2", "/docs/b.md")])
    assert {r.state for r in repo.find()} == {"pending"}
    assert repo.mark_ready(["d1"]) == 1
    got = repo.get("d1")
    assert got is not None and got.state == "ready"
    assert got == _record("d1", "/docs/a.md", state="ready")  # every field round-trips
    assert got.ingested_at.tzinfo is not None
    assert repo.counts() == {"documents": 2, "pending": 1, "chunks": 6, "scopes": 1}


def test_put_pending_replaces_a_record_with_the_same_id(context: AppContext) -> None:
    repo = _repo(context)
    repo.put_pending([_record("d1", "/docs/a.md")])
    repo.mark_ready(["d1"])
    repo.put_pending([_record("d1", "/docs/a.md", content_hash="new", chunk_count=7)])
    got = repo.get("d1")
    assert got is not None and (got.content_hash, got.chunk_count, got.state) == (
        "new",
        7,
        "pending",
    )
    assert len(repo.find()) == 1


def test_find_filters_by_scope_user_source_prefix_and_state(context: AppContext) -> None:
    repo = _repo(context)
    repo.put_pending(
        [
            _record("d1", "/docs/a.md", "g1"),
            _record("d2", "/docs/sub/b.md", "g1", user_id="u2"),
            _record("d3", "/docs_other/c.md", "g1"),
            _record("d4", "/docs/a.md", "g2"),
            _record("d5", "note", None),
        ]
    )
    repo.mark_ready(["d1", "d5"])

    def ids(records: list[DocumentRecord]) -> list[str]:
        return [r.doc_id for r in records]

    assert ids(repo.find(scopes=["g1"])) == ["d1", "d2", "d3"]
    assert ids(repo.find(scopes=["g1", ""])) == ["d1", "d2", "d3", "d5"]
    assert ids(repo.find(scopes=[""])) == ["d5"]
    assert repo.find(scopes=[]) == []
    assert ids(repo.find(scopes=["g1"], user_id="u2")) == ["d2"]
    assert ids(repo.find(source_prefix="/docs/")) == ["d1", "d4", "d2"]
    assert ids(repo.find(state="ready")) == ["d1", "d5"]
    assert repo.get("d5").guild_id is None  # type: ignore[union-attr]


def test_source_prefix_is_literal_not_a_pattern(context: AppContext) -> None:
    repo = _repo(context)
    repo.put_pending(
        [_record("d1", "/a%b/x.md"), _record("d2", "/aXb/y.md"), _record("d3", "/a.b/z")]
    )
    assert [r.doc_id for r in repo.find(source_prefix="/a%b/")] == ["d1"]
    assert [r.doc_id for r in repo.find(source_prefix="/a.b")] == ["d3"]


def test_mark_ready_and_delete_span_several_batches(context: AppContext) -> None:
    repo = _repo(context)
    # More ids than one batch of the backend (500 bound parameters in SQLite, 200 per $in on
    # MongoDB); the MongoDB stand-in is slow with big collections, so it gets fewer.
    n = 520 if context.database.backend == "sqlite" else 230
    records = [_record(f"d{i}", f"/s/{i}.md") for i in range(n)]
    repo.put_pending(records)
    assert repo.mark_ready([r.doc_id for r in records]) == n
    # (get_many, the one reader of many ids, had no caller and is gone: each id is a get.)
    assert [repo.get(i) is not None for i in ("d1", f"d{n - 1}", "missing")] == [True, True, False]
    assert {r.state for r in repo.find()} == {"ready"}
    assert repo.delete([r.doc_id for r in records[:-20]] + ["missing"]) == n - 20
    assert repo.counts()["documents"] == 20


def test_set_model_rewrites_every_record(context: AppContext) -> None:
    repo = _repo(context)
    repo.put_pending([_record("d1", "a"), _record("d2", "b", None)])
    assert repo.set_model("text-embedding-3-small") == 2
    assert {r.embedding_model for r in repo.find()} == {"text-embedding-3-small"}


def test_the_same_source_may_exist_once_per_scope(context: AppContext) -> None:
    repo = _repo(context)
    repo.put_pending(
        [_record("d1", "faq", "g1"), _record("d2", "faq", "g2"), _record("d3", "faq", None)]
    )
    assert len(repo.find(source_prefix="faq")) == 3
    assert repo.counts()["scopes"] == 3


def test_line_keys_count_documents_per_scope_and_go_with_their_record(
    context: AppContext,
) -> None:
    repo = _repo(context)
    repo.put_lines("g1", {f"d{i}": {"*", "nav", f"own{i}"} for i in range(6)})
    repo.put_lines("g2", {"x1": {"*", "own1", "nav"}})  # another guild never counts
    assert repo.line_documents("g1", document_key="*") == 6
    assert repo.template_lines("g1", document_key="*", threshold=5) == {"nav"}
    assert repo.template_lines("g1", document_key="*", threshold=2) == {"nav"}
    # Replacing a document's keys replaces them, not adds to them.
    repo.put_lines("g1", {"d0": {"*", "own0"}, "d1": {"*", "own1"}})
    assert repo.template_lines("g1", document_key="*", threshold=5) == set()
    assert repo.template_lines("g1", document_key="*", threshold=4) == {"nav"}
    # Deleting a record deletes its keys.
    repo.put_pending([_record(f"d{i}", f"/docs/{i}.md") for i in range(6)])
    assert repo.delete(["d2", "d3"]) == 2
    assert repo.line_documents("g1", document_key="*") == 4
    assert repo.template_lines("g1", document_key="*", threshold=3) == set()
    assert repo.line_documents("g2", document_key="*") == 1
