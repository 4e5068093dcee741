"""Issue #12: chunks carry their document's context, template lines and repeats are dropped.

Both backends (the line table lives in the document store), the real model, real Chroma.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.rag.chunking import WINDOW_TOKENS, chunk_document, document_lead
from core.rag.embedding import MAX_TOKENS, LocalEmbedder
from core.rag.service import RagService
from tests.core.rag_support import CountingEmbedder, embedder, rag, write

__all__ = ["embedder", "rag"]  # fixtures

count = LocalEmbedder().count_tokens
TEMPLATE = [
    "Written by the maintainers of the toolkit project.",
    "Report bugs to the issue tracker of the toolkit project.",
    "Full documentation is available online at the toolkit site.",
]


def _page(name: str, body: str) -> str:
    # A man-page-like file: its own title inside one template line, then shared lines.
    return (
        f"# {name}\n\n{name} - part of the toolkit project\n\n## Description\n\n"
        f"The {name} command {body} and reports what it did, in detail, for {name} users.\n\n"
        "## Author\n\n" + "\n".join(TEMPLATE) + f"\n\nSee also the {name} notes.\n"
    )


def _corpus(root: Path, n: int = 12) -> Path:
    verbs = [
        "copies files", "moves files", "lists folders", "prints text", "sorts lines",
        "counts words", "joins lines", "splits files", "removes files", "makes folders",
        "links files", "touches files", "shows disk use", "shows free space",
    ]  # fmt: skip
    return write(root, {f"tool{i}.md": _page(f"tool{i}", verbs[i]) for i in range(n)})


def test_a_lead_comes_from_front_matter_else_the_first_prose_sentence() -> None:
    front = "---\ntitle: cp\ndescription: Copy files and folders.\n---\n# cp\n\nBody text here."
    assert document_lead(front) == "Copy files and folders."
    prose = (
        "# Title\n\n```\ncode block line\n```\n\n- a list item here\n\nThe lead is this. Not this."
    )
    assert document_lead(prose) == "The lead is this."
    assert document_lead("# Only a heading\n\n## And another") == ""


def test_each_chunk_is_embedded_with_title_lead_and_heading_but_stored_alone() -> None:
    text = "# Mover\n\nMoves files between folders safely.\n\n## Options\n\n" + "Flag text. " * 300
    chunks = chunk_document("Mover", text, count_tokens=count)
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.embedded.startswith("Mover\nMoves files between folders safely.")
        assert chunk.embedded.endswith(chunk.text)
        assert "Mover\n" not in chunk.text  # the user sees the chunk, not the prefix
    assert chunks[-1].heading == "Options" and "\nOptions\n\n" in chunks[-1].embedded


def test_no_embedded_chunk_exceeds_the_models_window_with_the_real_tokenizer() -> None:
    # Adversarial prefixes (a CJK title, an endless lead sentence, a deep heading path) and
    # bodies that tokenise badly (long words, CJK runs, emoji, URLs).
    title = "標題" * 80
    lead = "Lead " + "supercalifragilistic-expialidocious " * 60 + "."
    headings = "".join(f"{'#' * (i + 2)} Heading level {i} " + "ü" * 40 + "\n\n" for i in range(5))
    bodies = [
        "漢字かな交じり文" * 400,
        "https://example.org/" + "a/b?c=d&" * 300,
        "👩‍👩‍👧‍👦🇫🇷 " * 400,
        " ".join("x" * n for n in range(1, 300)),
        "Ordinary sentence about copying files. " * 200,
    ]
    for body in bodies:
        text = f"{lead}\n\n{headings}{body}"
        chunks = chunk_document(title, text, count_tokens=count, chunk_tokens=256)
        assert chunks
        for chunk in chunks:
            real = count(chunk.embedded)
            assert real == chunk.embedded_tokens
            assert real <= WINDOW_TOKENS < MAX_TOKENS  # [CLS] and [SEP] fit too
            assert " ".join(chunk.text.split()) in " ".join(text.split())


def test_chunks_fill_the_window_rather_than_stopping_short() -> None:
    text = "# Page\n\nThis page explains something. " + "Sentence of content here. " * 400
    chunks = chunk_document("Page", text, count_tokens=count, chunk_tokens=256)
    sizes = [c.embedded_tokens for c in chunks[:-1]]
    assert min(sizes) >= 200 and max(sizes) <= WINDOW_TOKENS


@pytest.mark.slow
def test_template_lines_are_dropped_and_each_pages_own_text_kept(
    rag: RagService, tmp_path: Path
) -> None:
    docs = _corpus(tmp_path / "docs")
    rag.ingest_paths([docs])
    texts = [row["document"] for row in rag.store.scan(documents=True)]
    joined = "\n".join(texts)
    for line in TEMPLATE:
        assert line not in joined
    # Lines that differ only by the page's own title are one template: dropped too ...
    assert "tool3 - part of the toolkit project" not in joined
    assert "See also the tool3 notes." not in joined
    # ... while each page's own sentences are all kept.
    for i in range(12):
        assert f"The tool{i} command" in joined
    hit = rag.query("which tool sorts lines of text", top_k=1)[0]
    assert hit.title == "tool4"


@pytest.mark.slow
def test_the_line_table_is_outside_the_hash_so_unchanged_files_stay_unchanged(
    rag: RagService, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    docs = _corpus(tmp_path / "docs")
    rag.ingest_paths([docs])
    embedded = embedder.texts
    # Adding more pages changes the scope's line frequencies, not the old pages' hashes.
    write(docs, {"extra.md": _page("extra", "does extra things")})
    report = rag.ingest_paths([docs])
    assert (report.added, report.updated, report.unchanged) == (1, 0, 12)
    assert embedder.texts - embedded == report.chunks


def test_few_documents_keep_every_line(rag: RagService, tmp_path: Path) -> None:
    # Two pages sharing a line are not a template: a line is template only when it is in
    # at least MIN_DOCUMENTS documents of the scope.
    docs = _corpus(tmp_path / "docs", n=2)
    rag.ingest_paths([docs])
    joined = "\n".join(row["document"] for row in rag.store.scan(documents=True))
    assert TEMPLATE[0] in joined


@pytest.mark.slow
def test_a_template_in_another_guild_does_not_strip_this_guilds_pages(
    rag: RagService, tmp_path: Path
) -> None:
    rag.ingest_paths([_corpus(tmp_path / "other")], guild_id="g2")
    mine = write(tmp_path / "mine", {"a.md": _page("alpha", "copies files")})
    rag.ingest_paths([mine], guild_id="g1")
    rows = [r for r in rag.store.scan(documents=True) if r["metadata"]["scope"] == "g1"]
    assert TEMPLATE[0] in "\n".join(r["document"] for r in rows)


@pytest.mark.slow
def test_repeated_chunks_are_embedded_once_and_delete_and_prune_stay_per_document(
    rag: RagService, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    section = "## Notes\n\n" + "This exact paragraph repeats on the page. " * 30
    page = "# Same\n\nA page whose sections repeat.\n\n" + "\n\n".join([section] * 4)
    docs = write(tmp_path / "docs", {"a.md": page, "b.md": page, "c.md": page})
    report = rag.ingest_paths([docs])
    records = {Path(r.source).name: r for r in rag.list()}
    # Repeats inside a document are dropped; identical embedded texts across documents are
    # embedded once but stored per document.
    per_doc = records["a.md"].chunk_count
    assert per_doc < 4 and report.chunks == 3 * per_doc
    assert embedder.texts == per_doc
    assert rag.store.chunk_counts([r.doc_id for r in records.values()]) == {
        r.doc_id: per_doc for r in records.values()
    }
    rag.delete(records["a.md"].doc_id)
    assert rag.store.count() == 2 * per_doc
    (docs / "a.md").unlink()
    (docs / "b.md").unlink()
    pruned = rag.ingest_paths([docs], prune=True)
    assert pruned.removed == 1 and [Path(r.source).name for r in rag.list()] == ["c.md"]
    assert rag.store.count() == per_doc
    assert rag.query("a paragraph that repeats", top_k=1)[0].source.endswith("c.md")
    assert rag.verify().ok
