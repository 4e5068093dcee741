"""Chunking: structure first, the model's window always respected, every script intact."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.rag.chunking import WINDOW_TOKENS, Chunk, chunk_document, embedding_text, graphemes
from core.rag.embedding import LocalEmbedder

count = LocalEmbedder().count_tokens


def _chunks(text: str, title: str = "Doc", tokens: int = 200, overlap: int = 32) -> list[Chunk]:
    return chunk_document(
        title, text, count_tokens=count, chunk_tokens=tokens, overlap_tokens=overlap
    )


def test_headings_start_new_chunks_and_become_the_chunk_heading() -> None:
    text = (
        "# Doc\n\nIntro.\n\n## Install\n\nRun pip.\n\n### Linux\n\nUse apt.\n\n## Usage\n\nRun it."
    )
    chunks = _chunks(text)
    assert [(c.heading, c.text) for c in chunks] == [
        ("", "Intro."),
        ("Install", "Run pip."),
        ("Install › Linux", "Use apt."),
        ("Usage", "Run it."),
    ]


def test_a_hash_line_inside_a_code_fence_is_not_a_heading() -> None:
    text = "## Shell\n\n```bash\n# not a heading\n\necho hi\n```\n\nAfter."
    chunks = _chunks(text)
    assert len(chunks) == 1
    assert "# not a heading\n\necho hi" in chunks[0].text
    assert chunks[0].heading == "Shell"


def test_long_sections_split_at_sentences_within_budget_with_overlap() -> None:
    sentences = [
        f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(80)
    ]
    chunks = _chunks(" ".join(sentences), tokens=100, overlap=20)
    assert len(chunks) > 5
    for chunk in chunks:
        assert count(chunk.text) <= 100
        assert chunk.text.endswith(".")  # cut between sentences, never inside one
    # Consecutive chunks share their boundary sentence(s).
    for before, after in zip(chunks, chunks[1:], strict=False):
        last = re.findall(r"Sentence number \d+", before.text)[-1]
        assert last in after.text
    # Nothing is lost.
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_every_chunk_fits_the_window_with_its_title_and_heading() -> None:
    title = "A very long title " * 12
    text = "## " + "Heading words " * 20 + "\n\n" + "word " * 2000
    for chunk in _chunks(text, title=title, tokens=256, overlap=0):
        assert count(embedding_text(title, chunk.heading, chunk.text)) <= WINDOW_TOKENS


def test_cjk_without_spaces_is_split_by_sentence_then_by_character() -> None:
    text = "你好世界。这是一个测试！" * 60 + "没有标点的长文本" * 100
    chunks = _chunks(text, tokens=120, overlap=0)
    assert all(count(c.text) <= 120 for c in chunks)
    assert "".join(c.text for c in chunks) == text
    assert chunks[0].text.endswith(("。", "！"))


def test_arabic_and_emoji_sequences_survive_whole() -> None:
    family = "👩‍👩‍👧"
    flag = "🇫🇷"
    text = f"مرحبا بالعالم؟ هذا نص عربي. {family} {flag} 👍🏽 café"
    chunks = _chunks(text)
    assert chunks[0].text == text
    long = (family + flag + "👍🏽") * 300
    pieces = _chunks(long, tokens=64, overlap=0)
    assert "".join(c.text for c in pieces) == long
    for piece in pieces:
        assert not piece.text.startswith(("\u200d", "\U0001f3fd"))
        assert not piece.text.endswith("\u200d")


def test_grapheme_clusters_keep_marks_joiners_and_flags() -> None:
    assert list(graphemes("e\u0301a👩‍💻🇫🇷🇩🇪👍🏽")) == ["e\u0301", "a", "👩‍💻", "🇫🇷", "🇩🇪", "👍🏽"]


@pytest.mark.parametrize("text", ["", "   \n\n  ", "# Only a heading"])
def test_documents_without_text_give_no_chunks(text: str) -> None:
    assert _chunks(text) == []


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=1500), st.integers(min_value=32, max_value=256))
def test_any_text_gives_chunks_within_budget(text: str, budget: int) -> None:
    chunks = _chunks(text, tokens=budget, overlap=budget // 4)
    for chunk in chunks:
        assert chunk.text.strip()
        assert count(embedding_text("Doc", chunk.heading, chunk.text)) <= WINDOW_TOKENS + 2
    assert [c.index for c in chunks] == list(range(len(chunks)))
