"""Ranking by source and hybrid search on both backends: one page cannot crowd the top k,
another guild's matches never come in, and awkward queries answer or say why not."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.rag.repository import Passage
from core.rag.service import RagService
from core.scope import Scope
from tests.core.rag_support import embedder, rag

__all__ = ["embedder", "rag"]  # fixtures

CROWD = "\n\n".join(
    f"## Part {i}\n\nRefunds of coins are made within {i + 2} days when a purchase fails."
    for i in range(8)
)


def _crowded(rag: RagService, guild_id: str | None = None) -> None:
    """One document with eight near-identical chunks about refunds, and four others."""
    rag.ingest_text("crowd", "Refund policy", "# Refund policy\n\n" + CROWD, guild_id=guild_id)
    for i, topic in enumerate(["refund requests", "coin purchases", "failed payments", "days"]):
        rag.ingest_text(
            f"other{i}",
            f"Note {i}",
            f"A note on {topic} and how coins are returned.",
            guild_id=guild_id,
        )


@pytest.mark.parametrize("hybrid", [False, True])
def test_the_top_k_holds_the_best_passage_of_each_document(rag: RagService, hybrid: bool) -> None:
    _crowded(rag)
    question = "how long until refunded coins come back after a failed purchase?"
    raw = rag.query(question, top_k=5, passages=True, hybrid=hybrid, min_score=-1.0)
    assert [r.doc_id for r in raw].count(raw[0].doc_id) >= 2  # the crowd, as before
    ranked = rag.query(question, top_k=5, hybrid=hybrid, min_score=-1.0)
    assert len(ranked) == 5 and len({r.doc_id for r in ranked}) == 5
    assert ranked[0].chunk == raw[0].chunk and ranked[0].doc_id == raw[0].doc_id
    two = rag.query(question, top_k=5, per_document=2, hybrid=hybrid, min_score=-1.0)
    assert max([r.doc_id for r in two].count(d) for d in {r.doc_id for r in two}) == 2
    # Scores stay cosine similarities: the same chunk scores the same in every mode.
    same = {(r.doc_id, r.chunk): r.score for r in raw}
    for r in ranked + two:
        if (r.doc_id, r.chunk) in same:
            assert r.score == pytest.approx(same[(r.doc_id, r.chunk)], abs=1e-5)
    # Raw passages come by cosine; documents by best chunk and document vector together.
    assert [r.score for r in raw] == sorted((r.score for r in raw), reverse=True) or hybrid


@pytest.mark.slow
def test_the_seed_query_ranks_by_source_by_default(rag: RagService) -> None:
    _crowded(rag, guild_id="1")
    results = rag.query("refund of coins after a failed purchase", guild_id="1", top_k=3)
    assert len({r.doc_id for r in results}) == len(results) == 3


@pytest.mark.slow
@pytest.mark.parametrize("hybrid", [False, True])
def test_another_guilds_adversarial_corpus_never_comes_in(rag: RagService, hybrid: bool) -> None:
    """Guild B holds exact copies of the question and its identifiers; A's top k ignores them."""
    question = "where is storage.root set for ABBY_DATA_DIR?"
    for i in range(12):
        rag.ingest_text(
            f"b:{i}",
            question,
            f"{question} storage.root ABBY_DATA_DIR {question}",
            guild_id="guild-b",
        )
    rag.ingest_text(
        "a:1", "Storage", "The storage.root setting names the images folder.", guild_id="guild-a"
    )
    rag.ingest_text("a:2", "Install", "ABBY_DATA_DIR moves every store.", guild_id="guild-a")
    rag.ingest_text("g:1", "Rules", "Be kind to each other.")
    for per_doc in ({}, {"passages": True}):
        seen = rag.query(
            question, guild_id="guild-a", top_k=5, hybrid=hybrid, min_score=-1.0, **per_doc
        )
        assert {r.doc_id for r in seen} == {
            rag.list(Scope.of("guild-a"))[i].doc_id for i in range(3)
        }
        assert {r.guild_id for r in seen} <= {"guild-a", None}
    glob = rag.query(question, top_k=5, hybrid=hybrid, min_score=-1.0)
    assert [r.title for r in glob] == ["Rules"]


@pytest.mark.slow
@pytest.mark.parametrize("hybrid", [False, True])
@pytest.mark.parametrize(
    "question",
    [
        "what is the and of to a in?",  # stop words only: the vectors still answer
        "storage.root ABBY_DATA_DIR --older-than core.rag.lexical_index __init__",
        "🎉🔥👍🏽🇯🇵",
        "x" * 2000,  # at the limit
        'title: "NEAR(a b)" OR * -refund ^coins',  # FTS syntax is searched as words
    ],
)
def test_awkward_queries_answer(rag: RagService, hybrid: bool, question: str) -> None:
    _crowded(rag)
    results = rag.query(question, top_k=3, hybrid=hybrid, min_score=-1.0)
    assert len(results) == 3


def test_a_query_over_the_limit_or_a_bad_option_says_why(rag: RagService) -> None:
    with pytest.raises(InvalidInput, match="2,001 characters; the limit is 2,000"):
        rag.query("x" * 2001)
    for bad in (0, 101, True, "2"):
        with pytest.raises(InvalidInput, match="per_document"):
            rag.query("refunds", per_document=bad)  # type: ignore[arg-type]


def test_a_stale_passage_cannot_carry_another_guilds_chunk_in(rag: RagService) -> None:
    """The word index says a chunk is guild A's; its vector says B's: B's text stays out."""
    rag.ingest_text("b:secret", "Secret", "The vault code is heron-42.", guild_id="guild-b")
    rag.ingest_text("a:notes", "Notes", "Our notes mention nothing secret.", guild_id="guild-a")
    secret = next(row for row in rag.store.scan() if row["metadata"]["scope"] == "guild-b")
    rag.repo.passages().put(
        [Passage(secret["id"], "a-doc", "guild-a", "Secret", "", "vault code heron-42")]
    )
    seen = rag.query("vault code heron-42", guild_id="guild-a", hybrid=True, min_score=-1.0)
    assert seen and all(r.guild_id in ("guild-a", None) for r in seen)
    assert all("heron" not in r.text for r in seen)
