"""Helpers for the RAG tests: a counting wrapper around the real embedder, corpus writers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from core.context import AppContext
from core.rag.embedding import LocalEmbedder
from core.rag.service import RagService


class CountingEmbedder:
    """The real local model, counting how many texts it embeds."""

    def __init__(self, inner: LocalEmbedder | None = None) -> None:
        self.inner = inner or LocalEmbedder()
        self.model_name = self.inner.model_name
        self.dimension = self.inner.dimension
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += len(texts)
        return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def rag(context: AppContext, embedder: CountingEmbedder) -> RagService:
    service = context.rag.with_embedder(embedder)
    yield service
    service.close()


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    """Create files under root (text or bytes) and return root."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def blank_pdf() -> bytes:
    """A one-page PDF with no text layer (what a scan without OCR looks like)."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def text_pdf(text: str, title: str | None = None) -> bytes:
    """A one-page PDF whose text layer holds `text` (ASCII), built with pypdf's objects."""
    import io

    from pypdf import PdfWriter
    from pypdf.generic import (
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
    )

    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 72 712 Td ({escaped}) Tj ET".encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    if title:
        writer.add_metadata({"/Title": title})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
