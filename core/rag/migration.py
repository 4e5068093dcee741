"""Migrating a store built by an older chunker or another variant of the local model.

A record's content hash names the chunker that cut it (`c2-...`; a bare hex digest is
chunker 1) and its embedding model is on the record, so `index_status` says, without
opening the vector store, how many documents a reindex would rebuild and why.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.rag import loaders
from core.rag.chunking import HEADING_JOINER
from core.rag.documents import put_document_vectors
from core.rag.ingestion import (
    CHUNKER_VERSION,
    content_hash,
    document_chunks,
    embed_sorted,
    update_template,
)
from core.rag.repository import DocumentRecord

if TYPE_CHECKING:
    from core.rag.service import RagService
    from core.rag.store import VectorStore

log = logging.getLogger(__name__)

DOCUMENTS_PER_STEP = 64
# The overlap a chunk repeats is at most overlap_tokens (<= 128) tokens: a few hundred chars.
MAX_OVERLAP_CHARS = 2000


@dataclass(frozen=True)
class IndexStatus:
    """Whether the knowledge base is built the way the current code and settings would."""

    current: bool
    chunker: str
    model: str
    outdated_chunker: int  # documents cut by another chunker version
    outdated_model: int  # documents embedded by another model

    @property
    def reason(self) -> str:
        parts = []
        if self.outdated_chunker:
            parts.append(f"{self.outdated_chunker:,} documents were cut by an older chunker")
        if self.outdated_model:
            parts.append(f"{self.outdated_model:,} documents were embedded by another model")
        return "; ".join(parts)


def chunker_of(record: DocumentRecord) -> str:
    """The chunker version a record's hash names ("1" for the bare digests of version 1)."""
    prefix, dash, _ = record.content_hash.partition("-")
    return prefix[1:] if dash and prefix.startswith("c") else "1"


def index_status(service: RagService) -> IndexStatus:
    records = service.repo.find()
    model = service.embedder_name
    status = IndexStatus(
        current=True,
        chunker=CHUNKER_VERSION,
        model=model,
        outdated_chunker=sum(1 for r in records if chunker_of(r) != CHUNKER_VERSION),
        outdated_model=sum(1 for r in records if r.embedding_model != model),
    )
    return replace(status, current=not (status.outdated_chunker or status.outdated_model))


def rebuild(
    service: RagService,
    old: VectorStore,
    temp: VectorStore,
    *,
    progress: Callable[[int, int], None] | None = None,
    document_store: VectorStore | None = None,
) -> list[DocumentRecord]:
    """Write every document, re-chunked and re-embedded, into temp (and its document
    vectors into `document_store`); return the new records.

    progress(done, total) counts the old store's chunks as their documents are rebuilt.
    """
    records = service.repo.find()
    total = old.count()
    done = 0
    rebuilt: list[DocumentRecord] = []
    embedder = service.embedder
    for step in _steps(records):
        stored = old.chunks_of([r.doc_id for r in step])
        by_scope: dict[str, dict[str, tuple[str, str]]] = {}
        hashes: dict[str, str] = {}
        for record in step:
            text, digest = _source_text(service, record, stored[record.doc_id])
            if text.strip():
                by_scope.setdefault(record.scope, {})[record.doc_id] = (record.title, text)
                hashes[record.doc_id] = digest
        ids: list[str] = []
        texts: list[str] = []
        embedded: list[str] = []
        lengths: list[int] = []
        metadatas: list[dict[str, Any]] = []
        for scope, documents in by_scope.items():
            template = update_template(service, scope, documents)
            for record in step:
                if record.doc_id not in documents:
                    continue
                title, text = documents[record.doc_id]
                chunks = document_chunks(service, title, text, template)
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
    service: RagService, record: DocumentRecord, rows: Sequence[Mapping[str, Any]]
) -> tuple[str, str]:
    """(text, content hash) of a document: its unchanged file's, else its chunks'."""
    from_file = _verified_file(service, record)
    if from_file is not None:
        return from_file
    return reconstruct(rows), record.content_hash


def _verified_file(service: RagService, record: DocumentRecord) -> tuple[str, str] | None:
    """The file's text and new hash when it holds the very bytes the record hashed."""
    path = Path(record.source)
    if not path.is_absolute() or not loaders.is_supported(path):
        return None
    settings = service.settings
    try:
        data = loaders.read_bytes(path, settings.max_file_bytes)
    except (loaders.Skip, OSError):
        return None
    params = {
        "chunk_tokens": settings.chunk_tokens,
        "overlap_tokens": settings.chunk_overlap_tokens,
    }
    if record.content_hash not in (content_hash(data, **params), _hash_v1(data, **params)):
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
    return loaded.text, content_hash(data, **params)


def _hash_v1(data: bytes, *, chunk_tokens: int, overlap_tokens: int) -> str:
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
