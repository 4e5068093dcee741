"""The lexical index (core.rag.lexical) on both backends: terms, scope, and staying in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.rag.lexical import MAX_TERMS, fuse, parse_query
from core.rag.repository import Passage
from core.rag.service import RagService
from core.scope import Scope
from tests.core.rag_support import embedder, rag, write

__all__ = ["embedder", "rag"]  # fixtures


def test_query_terms_drop_stop_words_and_keep_identifiers_whole() -> None:
    q = parse_query("How do I set storage.root and ABBY_DATA_DIR with --older-than?")
    assert q.terms == ("set", "storage", "root", "abby", "data", "dir", "older")
    assert q.phrases == (("storage", "root"), ("abby", "data", "dir"), ("older", "than"))
    assert '"storage root"' in q.fts5() and '"set"' in q.fts5()
    assert not parse_query("what is it that you would do?")
    assert not parse_query("🎉🔥 👍🏽 ?!")


def test_a_long_query_is_bounded_and_quotes_are_data() -> None:
    q = parse_query(" ".join(f"word{i}" for i in range(500)))
    assert len(q.terms) == MAX_TERMS
    evil = parse_query('title: "NEAR(a b)" OR * -x ^y')
    assert evil.fts5() == '"title" OR "near"'


def test_fusion_rewards_agreement_between_the_rankings() -> None:
    assert fuse(["a", "b", "c"], ["b"]) == ["b", "a", "c"]  # second in both beats first once
    assert fuse(["a", "b"], []) == ["a", "b"]


def _passage(chunk: str, doc: str, scope: str, text: str, title: str = "T") -> Passage:
    return Passage(chunk, doc, scope, title, "", text)


@pytest.mark.slow
def test_the_index_searches_inside_the_scope_and_forgets_deleted_passages(
    rag: RagService,
) -> None:
    index = rag.repo.passages()
    assert index.empty()
    # Another guild holds many passages that match better (the adversary fills the index).
    index.put(
        [_passage(f"b:{i}", f"b{i}", "guild-b", "falcon falcon launch code") for i in range(30)]
        + [
            _passage("a:0", "a", "guild-a", "the falcon launch code is in the vault"),
            _passage("g:0", "g", "", "global rules mention a falcon once"),
            _passage("a:1", "a2", "guild-a", "nothing relevant here"),
        ]
    )
    query = parse_query("falcon launch code")
    found = index.search(query, scopes=["guild-a", ""], limit=2)
    assert [h.chunk_id for h in found] == ["a:0", "g:0"]  # filled from the scope, best first
    assert all(not h.chunk_id.startswith("b:") for h in index.search(query, scopes=[""], limit=50))
    assert index.counts()["a"] == 1 and not index.empty()

    index.put([_passage("a:0", "a", "guild-a", "replaced text about herons")])
    assert [h.chunk_id for h in index.search(query, scopes=["guild-a"], limit=5)] == []
    assert index.search(parse_query("herons"), scopes=["guild-a"], limit=5)[0].chunk_id == "a:0"
    index.delete_documents(["a"])
    index.delete_ids(["g:0"])
    assert index.search(parse_query("herons falcon"), scopes=["guild-a", ""], limit=5) == []
    assert "a" not in index.counts() and index.counts()["b0"] == 1


def test_fts_syntax_in_a_query_is_searched_as_words(rag: RagService) -> None:
    index = rag.repo.passages()
    index.put([_passage("x:0", "x", "", 'the "title" column and a NEAR match')])
    for text in ['title: "NEAR(a b)" OR *', "AND OR NOT", '"""', "x:0 -- ;DROP TABLE"]:
        index.search(parse_query(text), scopes=[""], limit=5)  # never a syntax error


def _corpus(root: Path) -> Path:
    return write(
        root,
        {
            "storage.md": "# Storage\n\nThe storage.root setting names the folder where "
            "generated images are kept.\n\n## Cleanup\n\nabby storage cleanup --older-than 30d "
            "removes files older than that.",
            "install.md": "# Installation\n\nSet ABBY_DATA_DIR to move every embedded store.",
            "bank.md": "# Bank\n\nTransfers move coins between members exactly once.",
        },
    )


def _in_step(rag: RagService) -> dict[str, int]:
    """Passages per document, asserted equal to the vectors per document."""
    vectors: dict[str, int] = {}
    for row in rag.store.scan():
        doc_id = str(row["metadata"]["doc_id"])
        vectors[doc_id] = vectors.get(doc_id, 0) + 1
    passages = rag.repo.passages().counts()
    assert passages == vectors
    return passages


@pytest.mark.slow
def test_the_index_follows_ingest_reingest_delete_and_prune(
    rag: RagService, tmp_path: Path
) -> None:
    docs = _corpus(tmp_path / "docs")
    rag.ingest_paths([docs], guild_id="g1")
    assert len(_in_step(rag)) == 3
    (docs / "bank.md").write_text("# Bank\n\nThe ledger records herons now.", encoding="utf-8")
    rag.ingest_paths([docs], guild_id="g1")
    _in_step(rag)
    hits = rag.repo.passages().search(parse_query("herons"), scopes=["g1"], limit=5)
    assert len(hits) == 1
    assert not rag.repo.passages().search(parse_query("coins"), scopes=["g1"], limit=5)
    (docs / "install.md").unlink()
    rag.ingest_paths([docs], guild_id="g1", prune=True)
    assert len(_in_step(rag)) == 2
    rag.delete(rag.list(Scope.of("g1"))[0].doc_id, guild_id="g1")
    assert len(_in_step(rag)) == 1


def test_verify_finds_and_repair_rebuilds_a_lexical_index_out_of_step(
    rag: RagService, tmp_path: Path
) -> None:
    rag.ingest_paths([_corpus(tmp_path / "docs")])
    index = rag.repo.passages()
    storage = next(r for r in rag.list() if r.title == "Storage")
    index.delete_documents([storage.doc_id])  # lost
    index.put([_passage("ghost:0", "ghost", "", "a passage of no document")])  # orphan
    report = rag.verify()
    kinds = {(p.doc_id, p.kind) for p in report.problems}
    assert kinds == {(storage.doc_id, "lexical_mismatch"), ("ghost", "lexical_orphan")}
    assert not report.ok
    assert rag.verify(repair=True).repaired
    assert rag.verify().ok
    _in_step(rag)


def test_a_store_made_before_the_index_gets_it_built_on_first_hybrid_query(
    rag: RagService, tmp_path: Path
) -> None:
    rag.ingest_paths([_corpus(tmp_path / "docs")])
    index = rag.repo.passages()
    index.delete_documents([r.doc_id for r in rag.list()])  # what an old store looks like
    assert index.empty()
    fresh = rag.with_embedder(rag.embedder)  # a new process: nothing checked yet
    try:
        hits = fresh.query("ABBY_DATA_DIR", hybrid=True, top_k=1)
        assert hits[0].title == "Installation"
        _in_step(fresh)
    finally:
        fresh.close()


@pytest.mark.parametrize(
    ("question", "title"),
    [("storage.root", "Storage"), ("ABBY_DATA_DIR", "Installation"), ("--older-than", "Storage")],
)
def test_an_exact_identifier_finds_its_definition(
    rag: RagService, tmp_path: Path, question: str, title: str
) -> None:
    rag.ingest_paths([_corpus(tmp_path / "docs")])
    for i in range(6):  # distractors about the same topics, without the identifier
        rag.ingest_text(f"d:{i}", f"Notes {i}", f"Storage, data and folders: note {i} on disks.")
    top = rag.query(question, top_k=3, hybrid=True)
    assert top[0].title == title, [r.title for r in top]


@pytest.mark.slow
def test_by_default_only_a_query_naming_something_exactly_uses_the_word_index(
    rag: RagService, tmp_path: Path
) -> None:
    rag.ingest_paths([_corpus(tmp_path / "docs")])
    for i in range(6):
        rag.ingest_text(f"d:{i}", f"Notes {i}", f"Storage, data and folders: note {i} on disks.")
    assert not rag.settings.hybrid and rag.settings.exact_names
    named = rag.query("ABBY_DATA_DIR", top_k=3)
    assert named == rag.query("ABBY_DATA_DIR", top_k=3, hybrid=True)
    assert named[0].title == "Installation"
    paraphrase = "where do the pictures end up on disk?"
    assert rag.query(paraphrase, top_k=3) == rag.query(paraphrase, top_k=3, hybrid=False)


@pytest.mark.slow
def test_the_index_stays_in_step_through_a_reindex(rag: RagService, tmp_path: Path) -> None:
    rag.ingest_paths([_corpus(tmp_path / "docs")])
    before = _in_step(rag)
    rag.reindex()
    assert _in_step(rag) == before
    assert rag.query("--older-than", top_k=1)[0].title == "Storage"
