"""Loaders: each supported format gives title and text; everything else a clear reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.rag import loaders
from tests.core.rag_support import blank_pdf, text_pdf


def load(path: Path) -> loaders.LoadedFile:
    return loaders.parse(path, loaders.read_bytes(path, 10 * 1024 * 1024))


def reason(path: Path, max_bytes: int = 10 * 1024 * 1024) -> str:
    with pytest.raises(loaders.Skip) as caught:
        loaders.parse(path, loaders.read_bytes(path, max_bytes))
    return caught.value.reason


def test_markdown_title_comes_from_the_first_h1(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("Intro line\n\n# The Guide\n\nBody.", encoding="utf-8")
    loaded = load(path)
    assert (loaded.title, loaded.text) == ("The Guide", "Intro line\n\n# The Guide\n\nBody.")


def test_text_file_title_is_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "release_notes-2.txt"
    path.write_text("\ufeffPlain text.", encoding="utf-8")  # a BOM is dropped
    assert (load(path).title, load(path).text) == ("release notes 2", "Plain text.")


def test_html_drops_scripts_and_styles_and_keeps_headings(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Bank help</title><style>p{color:red}</style></head><body>"
        "<script>alert('x')</script><h1>Bank</h1><p>Coins &amp; transfers.</p>"
        "<h2>Audit</h2><p>Run   the\naudit.</p></body></html>",
        encoding="utf-8",
    )
    loaded = load(path)
    assert loaded.title == "Bank help"
    assert loaded.text == "# Bank\n\nCoins & transfers.\n\n## Audit\n\nRun the audit."


def test_rst_section_titles_become_headings(tmp_path: Path) -> None:
    path = tmp_path / "doc.rst"
    path.write_text("=====\nTitle\n=====\n\nIntro.\n\nPart\n----\n\nText.\n", encoding="utf-8")
    loaded = load(path)
    assert loaded.title == "Title"
    assert "# Title" in loaded.text and "## Part" in loaded.text


def test_pdf_text_layer_is_extracted(tmp_path: Path) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(text_pdf("Abby keeps a ledger of every coin.", title="Ledger manual"))
    loaded = load(path)
    assert loaded.title == "Ledger manual"
    assert "ledger of every coin" in loaded.text


def test_pdf_without_text_layer_is_skipped_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(blank_pdf())
    assert "no text layer" in reason(path)


def test_garbage_pdf_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4 this is not really a pdf")
    assert "PDF" in reason(path)


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"", "empty file"),
        (b"   \n\n\t", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"caf\xe9 au lait", "not UTF-8"),
        (bytes(range(1, 32)) * 20, "binary"),
    ],
)
def test_unusable_contents_are_skipped_with_a_reason(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "notes.md"
    path.write_bytes(content)
    assert expected in reason(path)


def test_files_over_the_size_limit_are_skipped_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("x" * 2000)
    assert "too large" in reason(path, max_bytes=1000)


def test_a_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.md"
    os.mkfifo(path)
    assert reason(path) == "not a regular file (a FIFO)"


def test_a_broken_symlink_is_skipped_as_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "gone.md"
    path.symlink_to(tmp_path / "missing.md")
    assert reason(path) == "unreadable: broken symbolic link"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_a_file_without_read_permission_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "secret.md"
    path.write_text("hidden")
    path.chmod(0)
    assert reason(path).startswith("unreadable")


def test_walk_skips_hidden_entries_and_sorts(tmp_path: Path) -> None:
    for name in ("b.md", "a/c.md", ".git/config", ".hidden.md", "a/.x.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in loaders.walk(tmp_path)] == [
        "b.md",
        "a/c.md",
    ]
