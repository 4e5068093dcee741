"""Ingest: files and texts into document records and Chroma chunks, incrementally.

A document's id is a hash of (scope, source), so the same file in the same guild is always
the same document. Its content hash covers the bytes and the chunking parameters; when both
match a ready record, the document is skipped before it is parsed, chunked or embedded.

Changed documents are parsed and held (up to WINDOW_CHARS of text) before they are chunked,
so that template lines shared across the scope's documents, this run's included, are known
and dropped first (core.rag.boilerplate); a chunk that repeats an earlier one of its document
is dropped, and identical embedded texts across documents are embedded once.

Writes happen in batches of about a thousand chunks, in an order that makes a crash visible:
embed (nothing changed yet) -> records marked pending -> old chunks deleted -> new chunks added
-> records marked ready. `verify` finds whatever a crash leaves pending. A write batch is
embedded sorted by token count across the whole batch, so each model batch holds texts of
about one length and pads little.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import core.rag.boilerplate as boilerplate
import core.rag.loaders as loaders
from core.errors import InvalidInput, NotFound
from core.rag.chunking import Chunk, chunk_document, embedding_text
from core.rag.parts import Parts
from core.rag.repository import READY, DocumentRecord, DocumentRepository
from core.rag.versions import content_hash, index_status
from core.scope import Scope

if TYPE_CHECKING:
    from core.config import RagSettings
    from core.progress import Progress
    from core.rag.embedding import Embedder

log = logging.getLogger(__name__)

# Parsed text held before chunking, so boilerplate is judged with this run's documents
# counted; a larger corpus is judged one window at a time (the table keeps growing).
WINDOW_CHARS = 32 * 1024 * 1024
# Chunks per write batch: large Chroma adds, few database round trips.
BATCH_CHUNKS = 1024
# Chunks per embedding call inside a batch: small enough for a lively progress bar.
EMBED_STEP = 128

Status = Literal["added", "updated", "unchanged"]


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class IngestReport:
    """What an ingest run did (the `abby rag ingest --json` document)."""

    documents: int
    added: int
    updated: int
    unchanged: int
    removed: int
    chunks: int
    skipped: list[Skipped]
    seconds: float
    # Why the knowledge base wants `abby rag reindex` ("" when it does not): documents this
    # run did not touch that an older chunker cut or another model embedded.
    reindex_needed: str = ""


@dataclass(frozen=True)
class IngestedDocument:
    """The result of ingesting one text through the API."""

    doc_id: str
    status: Status
    chunks: int
    title: str
    source: str
    guild_id: str | None


@dataclass
class _Prepared:
    record: DocumentRecord
    chunks: list[Chunk]
    status: Status
    replaces: bool  # old vectors may exist


@dataclass
class _Parsed:
    record: DocumentRecord  # chunk_count set once chunked
    title: str
    text: str
    status: Status
    replaces: bool


@dataclass
class _Run:
    files_total: int = 0
    files_done: int = 0
    chunks_done: int = 0
    chunks_queued: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: {"added": 0, "updated": 0, "unchanged": 0}
    )


def doc_id_for(scope: Scope, source: str) -> str:
    """The stable id of a source within a scope."""
    return hashlib.sha256(f"{scope.key}\0{source}".encode()).hexdigest()[:32]


class Ingestor:
    """One ingest run: collects documents and writes them in batches.

    `progress(done, total)` counts chunks, the work (embedding is most of it): `total`
    counts the chunks of every file read so far, so it grows while files are read and is
    final once every file is; `files(done, total)` counts the files read.
    """

    def __init__(
        self,
        parts: Parts,
        *,
        scope: Scope,
        user_id: str | None,
        tags: tuple[str, ...],
        progress: Progress | None = None,
        files: Progress | None = None,
    ) -> None:
        self.parts = parts
        self.scope = scope
        self.user_id = user_id
        self.tags = tags
        self.progress = progress
        self.files = files
        self.run = _Run()
        self._batch: list[_Prepared] = []
        self._batch_chunks = 0
        self._parsed: list[_Parsed] = []
        self._parsed_chars = 0
        self._now: datetime = parts.clock.now()
        self._existing: dict[str, DocumentRecord] = {}
        self._lost: set[str] = set()  # ready records whose vectors are not in the store
        settings = parts.settings
        self._pdf_budget = loaders.PdfBudget(
            max_pages=settings.max_pdf_pages,
            seconds=settings.pdf_timeout_seconds,
            max_decompressed=settings.max_pdf_decompressed_bytes,
        )

    # --- entry points ---------------------------------------------------------------------

    def ingest_paths(self, paths: Sequence[Path], *, prune: bool) -> IngestReport:
        started = time.perf_counter()
        roots = [self._check_path(p) for p in paths]
        files: list[tuple[loaders.Boundary, Path]] = []
        skipped: list[Skipped] = []
        for root in roots:
            boundary = loaders.Boundary.of(root, self.parts.private_paths)
            if boundary.is_private(boundary.root):
                raise InvalidInput(f"{root} holds {loaders.PRIVATE_REASON}")
            for path in loaders.walk(root, boundary) if root.is_dir() else [root]:
                try:
                    boundary.check(path)
                except loaders.Skip as skip:
                    skipped.append(Skipped(str(path), skip.reason))
                    continue
                if loaders.is_supported(path):
                    files.append((boundary, path))
                else:
                    reason = f"unsupported type {path.suffix or '(no extension)'}"
                    skipped.append(Skipped(str(path), reason))
        self.run.files_total = len(files)
        self._existing = {r.source: r for r in self.parts.repo.find(scopes=[self.scope])}
        self._find_lost_vectors([str(path) for _, path in files])
        seen: set[str] = set()
        for boundary, path in files:
            source = str(path)
            seen.add(source)
            try:
                self._file(path, source, boundary)
            except loaders.Skip as skip:
                skipped.append(Skipped(source, skip.reason))
            self.run.files_done += 1
            self._report()
        self._finish()
        removed = self._prune(roots, seen) if prune else 0
        counts = self.run.counts
        if not any(counts.values()) and not removed:
            raise InvalidInput(_nothing_ingested(roots, files, skipped))
        return IngestReport(
            documents=counts["added"] + counts["updated"] + counts["unchanged"],
            added=counts["added"],
            updated=counts["updated"],
            unchanged=counts["unchanged"],
            removed=removed,
            chunks=self.run.chunks_done,
            skipped=skipped,
            seconds=round(time.perf_counter() - started, 3),
            reindex_needed=self._reindex_needed(),
        )

    def _reindex_needed(self) -> str:
        status = index_status(self.parts.repo, self.parts.model_name())
        return "" if status.current else f"{status.reason}: run 'abby rag reindex'"

    def ingest_text(self, source: str, title: str, text: str) -> IngestedDocument:
        self.run.files_total = 1
        doc_id = doc_id_for(self.scope, source)
        existing = self.parts.repo.get(doc_id)
        if existing is not None:
            self._existing = {source: existing}
            self._find_lost_vectors([source])
        settings = self.parts.settings
        digest = content_hash(
            text.encode("utf-8", "surrogatepass"),
            chunk_tokens=settings.chunk_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
            title=title,
        )
        status = self._consider(source, digest, lambda: (title, text))
        self._finish()
        record = self._last_record or existing
        assert record is not None
        return IngestedDocument(
            doc_id=doc_id,
            status=status,
            chunks=record.chunk_count,
            title=record.title,
            source=source,
            guild_id=record.guild_id,
        )

    # --- per document ---------------------------------------------------------------------

    _last_record: DocumentRecord | None = None

    def _check_path(self, path: Path) -> Path:
        path = Path(path).expanduser()
        if not path.exists() and not path.is_symlink():
            raise NotFound(f"path {path} does not exist")
        return path.resolve() if not path.is_symlink() or path.exists() else path.absolute()

    def _find_lost_vectors(self, sources: Sequence[str]) -> None:
        """Note ready documents whose chunks are gone from the store (a deleted chroma/).

        Their content is unchanged, but skipping them would leave them unfindable; they are
        embedded again instead. One store read per thousand documents.
        """
        ready = [
            r for s in sources if (r := self._existing.get(s)) is not None and r.state == READY
        ]
        if not ready:
            return
        have = self.parts.store.chunk_counts([r.doc_id for r in ready])
        self._lost = {r.doc_id for r in ready if have[r.doc_id] != r.chunk_count}
        if self._lost:
            log.warning(
                "rag ingest: %d unchanged documents lost their vectors; embedding them again",
                len(self._lost),
            )

    def _file(self, path: Path, source: str, boundary: loaders.Boundary) -> None:
        settings = self.parts.settings
        data = loaders.read_bytes(path, settings.max_file_bytes, boundary)
        digest = content_hash(
            data,
            chunk_tokens=settings.chunk_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
        )

        def load() -> tuple[str, str]:
            loaded = loaders.parse(path, data, self._pdf_budget)
            return loaded.title, loaded.text

        self._consider(source, digest, load)

    def _consider(self, source: str, digest: str, load: Callable[[], tuple[str, str]]) -> Status:
        """Skip an unchanged document; else chunk it and queue it for the next batch."""
        old = self._existing.get(source)
        model = self.parts.model_name()
        same_content = (
            old is not None
            and old.content_hash == digest
            and old.state == READY
            and old.embedding_model == model
            and old.doc_id not in self._lost
        )
        if same_content and old is not None:
            if old.user_id == self.user_id and old.tags == self.tags:
                self.run.counts["unchanged"] += 1
                self._last_record = old
                return "unchanged"
        title, text = load()
        if same_content and old is not None:
            # Only who added it or its tags changed: rewrite the record, keep the vectors.
            record = replace(old, user_id=self.user_id, tags=self.tags, ingested_at=self._now)
            self._queue(_Prepared(record, [], "updated", replaces=False), metadata_only=True)
            return "updated"
        if not text.strip():
            raise loaders.Skip("empty file (no text)")
        status: Status = "added" if old is None else "updated"
        record = DocumentRecord(
            doc_id=doc_id_for(self.scope, source),
            guild_id=self.scope.guild_id,
            title=title,
            source=source,
            user_id=self.user_id,
            tags=self.tags,
            content_hash=digest,
            chunk_count=0,
            ingested_at=self._now,
            embedding_model=model,
            state="pending",
        )
        self._parsed.append(_Parsed(record, title, text, status, replaces=old is not None))
        self._parsed_chars += len(text)
        if self._parsed_chars >= WINDOW_CHARS:
            self._chunk_parsed()
        return status

    def _chunk_parsed(self) -> None:
        """Record the held documents' line keys, then chunk them without template lines."""
        parsed, self._parsed, self._parsed_chars = self._parsed, [], 0
        if not parsed:
            return
        template = update_template(
            self.parts.repo,
            self.scope,
            {p.record.doc_id: (p.title, p.text) for p in parsed},
        )
        for item in parsed:
            chunks = document_chunks(
                self.parts.settings, self.parts.embedder, item.title, item.text, template
            )
            record = replace(item.record, chunk_count=len(chunks))
            self._queue(_Prepared(record, chunks, item.status, item.replaces))

    def _finish(self) -> None:
        self._chunk_parsed()
        self._flush()

    def _queue(self, prepared: _Prepared, *, metadata_only: bool = False) -> None:
        self._batch.append(prepared)
        self._batch_chunks += len(prepared.chunks)
        self.run.chunks_queued += len(prepared.chunks)
        self._last_record = replace(prepared.record, state=READY)
        if self._batch_chunks >= BATCH_CHUNKS:
            self._flush()

    # --- writing --------------------------------------------------------------------------

    def _flush(self) -> None:
        batch, self._batch, self._batch_chunks = self._batch, [], 0
        if not batch:
            return
        parts = self.parts
        texts: list[str] = []
        ids: list[str] = []
        metadatas: list[dict[str, object]] = []
        embedded: list[str] = []
        lengths: list[int] = []
        for item in batch:
            r = item.record
            for chunk in item.chunks:
                ids.append(f"{r.doc_id}:{chunk.index}")
                texts.append(chunk.text)
                embedded.append(
                    chunk.embedded or embedding_text(r.title, chunk.heading, chunk.text)
                )
                lengths.append(chunk.embedded_tokens or chunk.tokens)
                metadatas.append(
                    {
                        "doc_id": r.doc_id,
                        "scope": r.scope,
                        "chunk": chunk.index,
                        "title": r.title,
                        "source": r.source,
                        "heading": chunk.heading,
                        "content_hash": r.content_hash,
                    }
                )
        vectors = self._embed(embedded, lengths)
        # Nothing has changed yet; from here on, a crash leaves pending records behind.
        hook = parts.crash_hook or (lambda point: None)
        parts.repo.put_pending([item.record for item in batch])
        stale = [item.record.doc_id for item in batch if item.replaces]
        if stale:
            parts.store.delete_documents(stale)
        hook("before_vectors")
        parts.store.add(ids, vectors, texts, metadatas)
        hook("after_vectors")
        parts.repo.mark_ready([item.record.doc_id for item in batch])
        for item in batch:
            self.run.counts[item.status] += 1

    def _embed(self, texts: list[str], lengths: list[int]) -> list[list[float]]:
        start = self.run.chunks_done

        def counted(done: int, total: int) -> None:
            self.run.chunks_done = start + done
            self._report()

        return embed_sorted(self.parts.embedder, texts, lengths, progress=counted)

    def _report(self) -> None:
        if self.files is not None:
            self.files(self.run.files_done, self.run.files_total)
        if self.progress is not None:
            self.progress(self.run.chunks_done, self.run.chunks_queued)

    def _prune(self, roots: Iterable[Path], seen: set[str]) -> int:
        gone: list[DocumentRecord] = []
        for root in roots:
            if not root.is_dir():
                continue
            prefix = str(root).rstrip("/") + "/"
            gone.extend(
                r
                for r in self.parts.repo.find(scopes=[self.scope], source_prefix=prefix)
                if r.source not in seen
            )
        remove_records(self.parts, gone)
        return len(gone)


def remove_records(parts: Parts, records: Sequence[DocumentRecord]) -> None:
    """Remove documents: mark pending, drop their vectors, then drop the records."""
    if not records:
        return
    parts.repo.put_pending([replace(r, state="pending") for r in records])
    parts.store.delete_documents([r.doc_id for r in records])
    parts.repo.delete([r.doc_id for r in records])


def embed_sorted(
    embedder: Embedder,
    texts: Sequence[str],
    lengths: Sequence[int],
    *,
    progress: Progress | None = None,
) -> list[list[float]]:
    """Vectors for texts (in their order), each distinct text embedded once.

    Texts go to the model in ascending token length across the whole call, EMBED_STEP at a
    time, so the embedder's own batches hold similar lengths; `progress(done, len(texts))`
    after each step counts the texts covered so far (repeats included).
    """
    slot: dict[str, int] = {}
    order = [slot.setdefault(text, len(slot)) for text in texts]
    distinct = list(slot)
    width = [0] * len(distinct)
    copies = [0] * len(distinct)
    for position, index in enumerate(order):
        width[index] = lengths[position]
        copies[index] += 1
    ranked = sorted(range(len(distinct)), key=lambda i: width[i])
    vectors: list[list[float]] = [[] for _ in distinct]
    done = 0
    for start in range(0, len(ranked), EMBED_STEP):
        step = ranked[start : start + EMBED_STEP]
        for index, vector in zip(step, embedder.embed([distinct[i] for i in step]), strict=True):
            vectors[index] = vector
        done += sum(copies[i] for i in step)
        if progress is not None:
            progress(done, len(texts))
    return [vectors[index] for index in order]


def update_template(
    repo: DocumentRepository, scope: Scope, documents: Mapping[str, tuple[str, str]]
) -> set[str]:
    """Store these documents' line keys (doc id -> (title, text)); return the scope's
    template keys, counting them."""
    repo.put_lines(
        scope, {doc_id: boilerplate.document_keys(*pair) for doc_id, pair in documents.items()}
    )
    total = repo.line_documents(scope, document_key=boilerplate.DOCUMENT_KEY)
    return repo.template_lines(
        scope, document_key=boilerplate.DOCUMENT_KEY, threshold=boilerplate.threshold(total)
    )


def document_chunks(
    settings: RagSettings, embedder: Embedder, title: str, text: str, template: set[str]
) -> list[Chunk]:
    """A document's chunks without template lines or repeated chunks, numbered from 0.

    A document made only of template lines keeps them: it is findable, not dropped.
    """
    count = embedder.count_tokens
    chunks: list[Chunk] = []
    for body in (boilerplate.strip_template(title, text, template), text):
        chunks = chunk_document(
            title,
            body,
            count_tokens=count,
            chunk_tokens=settings.chunk_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
        )
        if chunks:
            break
    seen: set[str] = set()
    unique: list[Chunk] = []
    for chunk in chunks:
        key = " ".join(chunk.text.split()).casefold()  # near-exact: spacing and case aside
        if key in seen:
            continue
        seen.add(key)
        unique.append(replace(chunk, index=len(unique)))
    return unique


def _nothing_ingested(
    roots: list[Path], files: list[tuple[loaders.Boundary, Path]], skipped: list[Skipped]
) -> str:
    where = ", ".join(str(r) for r in roots)
    if not files:
        extra = f" ({len(skipped)} other file(s) skipped)" if skipped else ""
        return (
            f"no supported files under {where}{extra}; "
            f"supported types: {loaders.describe_suffixes()}"
        )
    shown = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in skipped[:3])
    more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
    return f"nothing ingested: every file was skipped - {shown}{more}"


def clean_tags(tags: Iterable[str] | str | None) -> tuple[str, ...]:
    """Tags as a sorted tuple of distinct, trimmed, non-empty strings (a,b or a list)."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned = sorted({str(t).strip() for t in tags if str(t).strip()})
    for tag in cleaned:
        if len(tag) > 64:
            raise InvalidInput(f"tag {tag[:20]!r}... is longer than 64 characters")
    return tuple(cleaned)
