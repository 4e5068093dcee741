"""The RAG service end to end on both backends: real model, real Chroma, generated corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import core.rag as seed_rag
from core.context import AppContext
from core.errors import InvalidInput, NotFound, UnknownDocument
from core.rag.service import RagService
from core.scope import Scope
from tests.core.rag_support import CountingEmbedder, blank_pdf, embedder, rag, write

__all__ = ["embedder", "rag"]  # fixtures


def _corpus(root: Path) -> Path:
    return write(
        root,
        {
            "bank.md": "# Bank\n\nTransfers move coins between members exactly once.\n\n"
            "## Audit\n\nThe audit proves that balances add up to what was minted.",
            "xp.md": "# Experience\n\nMembers earn experience points for chatting, "
            "once per minute at most.",
            "guide/images.md": "# Images\n\nGenerate pictures from a prompt with Stability.",
        },
    )


def test_reingest_of_an_unchanged_folder_embeds_nothing(
    rag: RagService, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    docs = _corpus(tmp_path / "docs")
    first = rag.ingest_paths([docs])
    assert (first.documents, first.added, first.unchanged) == (3, 3, 0)
    assert first.chunks == embedder.texts > 0
    embedded = embedder.texts
    second = rag.ingest_paths([docs])
    assert (second.documents, second.added, second.updated, second.unchanged) == (3, 0, 0, 3)
    assert second.chunks == 0
    assert embedder.texts == embedded  # not one text embedded again


@pytest.mark.slow
def test_a_changed_file_replaces_its_chunks(
    rag: RagService, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    docs = _corpus(tmp_path / "docs")
    rag.ingest_paths([docs])
    before = {r.source: r for r in rag.list()}
    (docs / "xp.md").write_text("# Experience\n\nLevels follow the MEE6 curve.", encoding="utf-8")
    embedded = embedder.texts
    report = rag.ingest_paths([docs])
    assert (report.updated, report.unchanged) == (1, 2)
    assert embedder.texts - embedded == report.chunks == 1
    after = {r.source: r for r in rag.list()}
    xp = str(docs / "xp.md")
    assert after[xp].doc_id == before[xp].doc_id  # same source, same document
    assert after[xp].content_hash != before[xp].content_hash
    texts = [r.text for r in rag.query("experience points levels", top_k=10)]
    assert "Levels follow the MEE6 curve." in texts
    assert not any("once per minute" in t for t in texts)
    assert rag.stats()["vectors"] == sum(r.chunk_count for r in after.values())


def test_prune_removes_documents_whose_files_vanished(rag: RagService, tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs")
    rag.ingest_paths([docs])
    (docs / "guide" / "images.md").unlink()
    kept = rag.ingest_paths([docs])
    assert kept.removed == 0 and len(rag.list()) == 3  # without --prune nothing is removed
    pruned = rag.ingest_paths([docs], prune=True)
    assert (pruned.removed, pruned.unchanged) == (1, 2)
    assert sorted(Path(r.source).name for r in rag.list()) == ["bank.md", "xp.md"]
    assert all("Stability" not in r.text for r in rag.query("generate pictures", top_k=10))
    assert rag.verify().ok


@pytest.mark.slow
def test_a_guild_never_sees_another_guilds_better_matches(rag: RagService, tmp_path: Path) -> None:
    secret = "The launch code of project Falcon is seven blue herons."
    rag.ingest_text("a:falcon", "Project Falcon launch code", secret, guild_id="guild-a")
    for i in range(8):
        rag.ingest_text(
            f"b:{i}",
            f"Guild B note {i}",
            f"Note {i}: the bake sale raised {i * 10} coins for the garden club.",
            guild_id="guild-b",
        )
    rag.ingest_text("g:rules", "Server rules", "Be kind to each other.")  # global
    question = "what is the launch code of project Falcon"

    own = rag.query(question, guild_id="guild-a", top_k=3)
    assert own[0].text == secret and own[0].guild_id == "guild-a"

    seen = rag.query(question, guild_id="guild-b", top_k=5)
    assert len(seen) == 5  # top-k is still filled, from B's own and global chunks
    assert {r.guild_id for r in seen} <= {"guild-b", None}
    assert all(r.score < own[0].score for r in seen)  # A's chunk would have won
    wide = rag.query(question, guild_id="guild-b", top_k=50, min_score=-1.0)
    assert len(wide) == 9 and all(r.guild_id != "guild-a" for r in wide)
    assert [r.guild_id for r in rag.query(question, top_k=50, min_score=-1.0)] == [None]


@pytest.mark.slow
def test_list_and_delete_respect_the_guild_boundary(rag: RagService) -> None:
    a = rag.ingest_text("a:1", "A doc", "Guild A text.", guild_id="ga", user_id="u1")
    rag.ingest_text("b:1", "B doc", "Guild B text.", guild_id="gb", user_id="u2")
    g = rag.ingest_text("g:1", "Global doc", "Global text.", user_id="u1")
    assert {r.title for r in rag.list(Scope.of("ga"))} == {"A doc", "Global doc"}
    assert {r.title for r in rag.list(Scope.of("ga"), user_id="u1")} == {"A doc", "Global doc"}
    assert {r.title for r in rag.list(Scope.EVERY)} == {"A doc", "B doc", "Global doc"}
    with pytest.raises(UnknownDocument):
        rag.delete(a.doc_id, guild_id="gb")
    with pytest.raises(UnknownDocument):
        rag.delete(g.doc_id, guild_id="gb")  # a guild cannot delete global documents
    rag.delete(a.doc_id, guild_id="ga")
    assert {r.title for r in rag.list(Scope.EVERY)} == {"B doc", "Global doc"}
    assert rag.query("Guild A text", guild_id="ga", top_k=5)[0].title == "Global doc"


def test_same_source_in_two_guilds_is_two_documents(rag: RagService) -> None:
    one = rag.ingest_text("faq", "FAQ", "Answers for guild one.", guild_id="g1")
    two = rag.ingest_text("faq", "FAQ", "Answers for guild two.", guild_id="g2")
    again = rag.ingest_text("faq", "FAQ", "Answers for guild one.", guild_id="g1")
    assert one.doc_id != two.doc_id
    assert (again.doc_id, again.status) == (one.doc_id, "unchanged")


@pytest.mark.slow
def test_cjk_and_emoji_text_comes_back_intact(rag: RagService) -> None:
    chinese = "我们的服务器每周五晚上举行音乐会。🎵🎸 欢迎所有成员参加！"
    arabic = "مرحبا بكم في مجتمعنا 👋🏽 نلتقي كل يوم جمعة."
    rag.ingest_text("zh", "音乐会", chinese, guild_id="g")
    rag.ingest_text("ar", "ترحيب", arabic, guild_id="g")
    rag.ingest_text("en", "Bank", "Transfers move coins between members.", guild_id="g")
    top = rag.query("服务器每周五举行音乐会", guild_id="g", top_k=1)
    assert top[0].text == chinese and top[0].title == "音乐会"
    assert arabic in [r.text for r in rag.query("مرحبا بكم في مجتمعنا", guild_id="g", top_k=2)]


@pytest.mark.slow
def test_top_k_and_min_score_are_honoured(rag: RagService) -> None:
    for i in range(6):
        rag.ingest_text(f"s{i}", f"Doc {i}", f"Topic {i}: members trade coins at the market.")
    rag.ingest_text("far", "Weather", "It rained all afternoon in the mountains.")
    assert len(rag.query("trading coins", top_k=3)) == 3
    everything = rag.query("trading coins", top_k=10, min_score=-1.0)
    assert len(everything) == 7
    scores = [r.score for r in everything]
    assert scores == sorted(scores, reverse=True)
    cut = (scores[0] + scores[-1]) / 2
    kept = rag.query("trading coins", top_k=10, min_score=cut)
    assert kept and all(r.score >= cut for r in kept) and len(kept) < 7
    assert rag.query("trading coins", min_score=0.999) == []


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"text": "x" * 10_000}, "10,000 characters; the limit is 2,000"),
        ({"text": "   "}, "empty"),
        ({"text": "ok", "top_k": 0}, "top_k"),
        ({"text": "ok", "top_k": 101}, "top_k"),
        ({"text": "ok", "min_score": 1.5}, "min_score"),
        ({"text": "ok", "guild_id": "bad guild"}, "guild id"),
    ],
)
def test_bad_queries_are_refused_with_a_clear_message(
    rag: RagService, kwargs: dict, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        rag.query(**kwargs)


def test_bad_paths_are_refused_and_bad_files_skipped_with_reasons(
    rag: RagService, tmp_path: Path
) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        rag.ingest_paths([tmp_path / "nope"])
    empty = tmp_path / "empty"
    write(empty, {"script.py": "print(1)", "image.png": b"\x89PNG\x00"})
    with pytest.raises(InvalidInput, match="no supported files.*2 other file"):
        rag.ingest_paths([empty])
    docs = write(
        tmp_path / "docs",
        {
            "zero.md": "",
            "binary.md": b"\x7fELF\x02\x01\x01\x00\x00\x00" * 50,
            "scan.pdf": blank_pdf(),
            "good.md": "# Good\n\nThe only readable document.",
        },
    )
    (docs / "dangling.md").symlink_to(docs / "missing.md")
    os.mkfifo(docs / "pipe.txt")
    report = rag.ingest_paths([docs])
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert report.documents == report.added == 1
    assert reasons["zero.md"] == "empty file"
    assert "binary" in reasons["binary.md"]
    assert "no text layer" in reasons["scan.pdf"]
    assert reasons["dangling.md"] == "unreadable: broken symbolic link"
    assert reasons["pipe.txt"] == "not a regular file (a FIFO)"
    assert [r.title for r in rag.list()] == ["Good"]  # nothing half-ingested
    only_bad = write(tmp_path / "bad", {"zero.md": "", "scan.pdf": blank_pdf()})
    with pytest.raises(InvalidInput, match="nothing ingested: every file was skipped"):
        rag.ingest_paths([only_bad])
    assert rag.verify().ok


@pytest.mark.slow
def test_seed_functions_return_plain_dicts(context: AppContext) -> None:
    added = seed_rag.ingest("note:1", "Note", "Dragons guard the treasure.", "u1", "g1", ["lore"])
    assert added["status"] == "added" and added["chunks"] == 1
    results = seed_rag.query("who guards the treasure", guild_id="g1", top_k=1)
    assert set(results[0]) >= {"text", "score", "doc_id", "title", "source", "chunk", "guild_id"}
    assert results[0]["guild_id"] == "g1" and results[0]["chunk"] == 0
    listed = seed_rag.list_documents(guild_id="g1")
    assert listed[0]["tags"] == ("lore",) and listed[0]["user_id"] == "u1"
    assert seed_rag.delete_document(added["doc_id"]) is True
    assert seed_rag.delete_document(added["doc_id"]) is False
    assert seed_rag.query("who guards the treasure", guild_id="g1") == []


def test_a_collection_refuses_another_model_until_reindexed(
    rag: RagService, context: AppContext
) -> None:
    rag.ingest_text("n", "Note", "Reindex keeps every chunk.")

    class Renamed(CountingEmbedder):
        model_name = "all-MiniLM-L6-v2-renamed"

    other = Renamed()
    other.model_name = "all-MiniLM-L6-v2-renamed"
    switched = context.rag.with_embedder(other)
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="reindex"):
        switched.query("chunk")
    result = switched.reindex()
    assert (result["chunks"], result["to_model"]) == (1, "all-MiniLM-L6-v2-renamed")
    assert switched.query("every chunk")[0].text == "Reindex keeps every chunk."
    assert switched.list()[0].embedding_model == "all-MiniLM-L6-v2-renamed"
    assert switched.stats()["embedding_model"] == "all-MiniLM-L6-v2-renamed"
    switched.close()
