"""Migrating a store built by an older chunker or another variant of the local model.

`core.rag.versions.index_status` says, without opening the vector store, how many
documents a reindex would rebuild and why.

`rebuild` re-chunks and re-embeds every document into a new collection, which the caller
swaps in at the end: until then the old vectors answer queries (a variant of the local
model reads a store built by another, see core.rag.store). Each document's text comes from
its file when the file still holds exactly the bytes that were ingested (its recorded hash
proves it: nothing unverified is read), else from its stored chunks with the overlap
between consecutive chunks removed and the headings put back.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import core.rag.loaders as loaders
from core.rag.chunking import HEADING_JOINER
from core.rag.documents import put_document_vectors
from core.rag.ingestion import document_chunks, embed_sorted, update_template
from core.rag.parts import Parts
from core.rag.repository import DocumentRecord
from core.rag.versions import (
    CHUNKER_VERSION,
    IndexStatus,
    chunker_of,
    content_hash,
    index_status,
)
from core.scope import Scope

if TYPE_CHECKING:
    from core.progress import Progress
    from core.rag.store import VectorStore

log = logging.getLogger(__name__)

DOCUMENTS_PER_STEP = 64
# The overlap a chunk repeats is at most overlap_tokens (<= 128) tokens: a few hundred chars.
MAX_OVERLAP_CHARS = 2000


def rebuild(
    parts: Parts,
    old: VectorStore,
    temp: VectorStore,
    *,
    progress: Progress | None = None,
    document_store: VectorStore | None = None,
) -> list[DocumentRecord]:
    """Write every document, re-chunked and re-embedded, into temp (and its document
    vectors into `document_store`); return the new records.

    progress(done, total) counts the old store's chunks as their documents are rebuilt.
    """
    repo = parts.repo
    records = repo.find()
    total = old.count()
    done = 0
    rebuilt: list[DocumentRecord] = []
    embedder = parts.embedder
    for step in _steps(records):
        stored = old.chunks_of([r.doc_id for r in step])
        by_scope: dict[str, dict[str, tuple[str, str]]] = {}
        hashes: dict[str, str] = {}
        for record in step:
            text, digest = _source_text(parts, record, stored[record.doc_id])
            if text.strip():
                by_scope.setdefault(record.scope, {})[record.doc_id] = (record.title, text)
                hashes[record.doc_id] = digest
        ids: list[str] = []
        texts: list[str] = []
        embedded: list[str] = []
        lengths: list[int] = []
        metadatas: list[dict[str, Any]] = []
        for scope, documents in by_scope.items():
            template = update_template(repo, Scope.from_key(scope), documents)
            for record in step:
                if record.doc_id not in documents:
                    continue
                title, text = documents[record.doc_id]
                chunks = document_chunks(parts.settings, embedder, title, text, template)
                digest = hashes[record.doc_id]
                for chunk in chunks:
                    ids.append(f"{record.doc_id}:{chunk.index}")
                    texts.append(chunk.text)
                    embedded.append(chunk.embedded)
                    lengths.append(chunk.embedded_tokens)
                    metadatas.append(
                        {
                            "doc_id": record.doc_id,
                            "scope": record.scope,
                            "chunk": chunk.index,
                            "title": record.title,
                            "source": record.source,
                            "heading": chunk.heading,
                            "content_hash": digest,
                        }
                    )
                rebuilt.append(
                    replace(
                        record,
                        content_hash=digest,
                        chunk_count=len(chunks),
                        embedding_model=embedder.model_name,
                    )
                )
        vectors = embed_sorted(embedder, embedded, lengths)
        temp.add(ids, vectors, texts, metadatas)
        if document_store is not None:
            put_document_vectors(document_store, vectors, metadatas)
        done += sum(len(stored[r.doc_id]) for r in step)
        if progress is not None:
            progress(min(done, total), total)
    return rebuilt


def _steps(records: Sequence[DocumentRecord]) -> Iterator[Sequence[DocumentRecord]]:
    for start in range(0, len(records), DOCUMENTS_PER_STEP):
        yield records[start : start + DOCUMENTS_PER_STEP]


def _source_text(
    parts: Parts, record: DocumentRecord, rows: Sequence[Mapping[str, Any]]
) -> tuple[str, str]:
    """(text, content hash) of a document: its unchanged file's, else its chunks'."""
    from_file = _verified_file(parts, record)
    if from_file is not None:
        return from_file
    return reconstruct(rows), record.content_hash


def _verified_file(parts: Parts, record: DocumentRecord) -> tuple[str, str] | None:
    """The file's text and new hash when it holds the very bytes the record hashed."""
    path = Path(record.source)
    if not path.is_absolute() or not loaders.is_supported(path):
        return None
    settings = parts.settings
    try:
        data = loaders.read_bytes(path, settings.max_file_bytes)
    except (loaders.Skip, OSError):
        return None
    tokens, overlap = settings.chunk_tokens, settings.chunk_overlap_tokens
    digest = content_hash(data, chunk_tokens=tokens, overlap_tokens=overlap)
    if record.content_hash not in (digest, _hash_v1(data, tokens, overlap)):
        return None
    try:
        loaded = loaders.parse(
            path,
            data,
            loaders.PdfBudget(
                max_pages=settings.max_pdf_pages,
                seconds=settings.pdf_timeout_seconds,
                max_decompressed=settings.max_pdf_decompressed_bytes,
            ),
        )
    except loaders.Skip:
        return None
    return loaded.text, digest


def _hash_v1(data: bytes, chunk_tokens: int, overlap_tokens: int) -> str:
    # Chunker 1's hash of a file (title ""), to recognise an unchanged file in an old store.
    digest = hashlib.sha256(f"v1:{chunk_tokens}:{overlap_tokens}:".encode())
    digest.update(b"\0")
    digest.update(data)
    return digest.hexdigest()


def reconstruct(rows: Sequence[Mapping[str, Any]]) -> str:
    """A document's text from its chunks (in order): overlaps removed, headings restored."""
    parts: list[str] = []
    previous = ""
    heading = ""
    for row in rows:
        text = str(row.get("document", ""))
        path = str(row.get("metadata", {}).get("heading", ""))
        if path != heading:
            old = heading.split(HEADING_JOINER) if heading else []
            new = path.split(HEADING_JOINER) if path else []
            same = 0
            while same < min(len(old), len(new)) and old[same] == new[same]:
                same += 1
            parts.extend(
                f"{'#' * (level + 2)} {name}" for level, name in enumerate(new) if level >= same
            )
            heading = path
            previous = ""
        parts.append(text[_overlap(previous, text) :].strip())
        previous = text
    return "\n\n".join(part for part in parts if part)


def _overlap(previous: str, text: str) -> int:
    """Length of the longest prefix of text that ends previous (the repeated tail)."""
    best = 0
    for end in range(1, min(len(previous), len(text), MAX_OVERLAP_CHARS) + 1):
        if end == len(text) or text[end].isspace():
            if previous.endswith(text[:end]):
                best = end
    return best


__all__ = [
    "CHUNKER_VERSION",
    "IndexStatus",
    "chunker_of",
    "index_status",
    "rebuild",
    "reconstruct",
]
