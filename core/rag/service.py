"""The RAG service: ingest, query, list and delete documents, scoped by guild.

A query for guild G searches G's chunks and global ones: the scope filter is the `where` of
the vector query itself, so another guild's chunks can neither appear nor use up the top-k.
The embedding model and the Chroma store are opened on first use, so listing documents
never loads them and an unchanged re-ingest only opens the store, to count that each
document's vectors are still there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.clock import Clock
from core.errors import ConfigError, InvalidInput, UnknownDocument
from core.ids import check_id
from core.rag.ingestion import (
    IngestedDocument,
    Ingestor,
    IngestReport,
    clean_tags,
    remove_records,
)
from core.rag.parts import Parts
from core.rag.repository import DocumentRecord, DocumentRepository, PassageIndex
from core.rag.results import QueryResult
from core.scope import Scope
from core.telemetry.governance import Governance

if TYPE_CHECKING:
    from core.config import EmbeddingSettings, RagSettings
    from core.progress import Progress
    from core.rag.embedding import Embedder
    from core.rag.maintenance import EvalReport, VerifyReport
    from core.rag.search import IndexedStore
    from core.rag.store import VectorStore
    from core.rag.versions import IndexStatus

log = logging.getLogger(__name__)

MAX_SOURCE_CHARS = 1000
MAX_TITLE_CHARS = 300


class RagService:
    def __init__(
        self,
        *,
        repo: DocumentRepository | Callable[[], DocumentRepository],
        settings: RagSettings,
        embedding_settings: EmbeddingSettings,
        chroma_path: Path,
        clock: Clock,
        events: Governance | None = None,
        embedder: Embedder | None = None,
        model_cache: Path | None = None,
        private_paths: Sequence[Path] = (),
    ) -> None:
        # A factory defers opening the database: a query needs only Chroma and the model.
        self._repo = repo if isinstance(repo, DocumentRepository) else None
        self._repo_factory = None if isinstance(repo, DocumentRepository) else repo
        self.settings = settings
        self.embedding_settings = embedding_settings
        self.chroma_path = chroma_path
        self.clock = clock
        self.events = events or Governance()
        self._embedder = embedder
        self.model_cache = model_cache
        # Never ingested, even inside a folder given: the store, the models, Abby's own files.
        self.private_paths = tuple(
            Path(p) for p in (chroma_path, *([model_cache] if model_cache else []), *private_paths)
        )
        self._store: IndexedStore | None = None
        self._passages_checked = False
        self._lock = threading.RLock()
        # Tests set this to interrupt a write at a named point ("after_vectors").
        self.crash_hook: Callable[[str], None] | None = None

    def with_embedder(self, embedder: Embedder) -> RagService:
        """The same service with another embedder (tests wrap the real one to count calls)."""
        return RagService(
            repo=self._repo or self._open_repo,
            settings=self.settings,
            embedding_settings=self.embedding_settings,
            chroma_path=self.chroma_path,
            clock=self.clock,
            events=self.events,
            embedder=embedder,
            model_cache=self.model_cache,
            private_paths=self.private_paths,
        )

    # --- lazily opened parts --------------------------------------------------------------

    def _open_repo(self) -> DocumentRepository:
        with self._lock:
            if self._repo is None:
                assert self._repo_factory is not None
                self._repo = self._repo_factory()
            return self._repo

    @property
    def repo(self) -> DocumentRepository:
        return self._open_repo()

    def _parts(self) -> Parts:
        """The collaborators of one ingest, repair or reindex (core.rag.parts)."""
        return Parts(
            settings=self.settings,
            clock=self.clock,
            events=self.events,
            open_repo=self._open_repo,
            open_store=lambda: self.store,
            open_embedder=lambda: self.embedder,
            model_name=lambda: self.embedder_name,
            open_collection=lambda name: self.open_store(name, check_model=False),
            close_store=self.close,
            store_missing=self.store_missing,
            private_paths=self.private_paths,
            crash_hook=self.crash_hook,
        )

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                from core.rag.embedding import build_embedder

                self._embedder = build_embedder(self.embedding_settings, cache_dir=self.model_cache)
            return self._embedder

    @property
    def embedder_name(self) -> str:
        """The configured model's name, without loading it."""
        if self._embedder is not None:
            return self._embedder.model_name
        name = self.embedding_settings.model
        return name.removeprefix("sentence-transformers/")

    @property
    def store(self) -> IndexedStore:
        with self._lock:
            if self._store is None:
                from core.rag.documents import DOCUMENT_SUFFIX
                from core.rag.search import IndexedStore

                # Every write to the vectors also updates the lexical index and the document
                # vectors (core.rag.search).
                name = self.settings.collection
                self._store = IndexedStore(
                    self.open_store(name),
                    lambda: self.repo.passages(),
                    self.open_store(name + DOCUMENT_SUFFIX, check_model=False),
                )
            return self._store

    def open_store(self, collection: str, *, check_model: bool = True) -> VectorStore:
        from core.rag.store import VectorStore

        embedder = self.embedder
        url = self.settings.chroma_url
        return VectorStore(
            collection=collection,
            model=embedder.model_name,
            dimension=embedder.dimension,
            path=None if url else self.chroma_path,
            url=url,
            check_model=check_model,
        )

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # --- ingest ---------------------------------------------------------------------------

    def ingest_paths(
        self,
        paths: Sequence[str | Path],
        *,
        guild_id: str | None = None,
        user_id: str | None = None,
        tags: Iterable[str] | str | None = None,
        prune: bool = False,
        progress: Progress | None = None,
        files: Progress | None = None,
    ) -> IngestReport:
        """Ingest files and folders (recursively); unchanged documents are skipped.

        Raises NotFound when a path does not exist (before anything is written). Files that
        cannot be ingested are listed in `skipped` with the reason. With prune, documents of
        this scope whose file disappeared under a given folder are removed.
        `progress(done, total)` counts the chunks embedded, `files(done, total)` the files.
        """
        if not paths:
            raise InvalidInput("give at least one file or folder to ingest")
        ingestor = Ingestor(
            self._parts(),
            scope=Scope.of(guild_id),
            user_id=_user(user_id),
            tags=clean_tags(tags),
            progress=progress,
            files=files,
        )
        report = ingestor.ingest_paths([Path(p) for p in paths], prune=prune)
        log.info(
            "rag ingest: %d documents (%d added, %d updated, %d unchanged, %d removed), "
            "%d chunks, %d skipped in %.2f s",
            report.documents,
            report.added,
            report.updated,
            report.unchanged,
            report.removed,
            report.chunks,
            len(report.skipped),
            report.seconds,
        )
        self.events.emit(
            "rag_ingest",
            {
                "guild_id": guild_id,
                "documents": report.documents,
                "added": report.added,
                "updated": report.updated,
                "removed": report.removed,
                "chunks": report.chunks,
                "skipped": len(report.skipped),
            },
        )
        return report

    def ingest_text(
        self,
        source: str,
        title: str,
        text: str,
        *,
        user_id: str | None = None,
        guild_id: str | None = None,
        tags: Iterable[str] | str | None = None,
    ) -> IngestedDocument:
        """Ingest one text under a source name; re-ingesting the same text embeds nothing."""
        source = _text_field("source", source, MAX_SOURCE_CHARS)
        title = _text_field("title", title or source, MAX_TITLE_CHARS)
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("text must be non-empty")
        ingestor = Ingestor(
            self._parts(), scope=Scope.of(guild_id), user_id=_user(user_id), tags=clean_tags(tags)
        )
        return ingestor.ingest_text(source, title, text.strip())

    # --- query ----------------------------------------------------------------------------

    def query(
        self,
        text: str,
        *,
        guild_id: str | None = None,
        user_id: str | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
        per_document: int | None = None,
        passages: bool = False,
        hybrid: bool | None = None,
    ) -> list[QueryResult]:
        """The best passages for text among those guild_id may see (its own and global).

        By default the best passage of each of the top_k documents (`per_document` allows
        more of one document; `passages=True` ranks raw chunks). With hybrid a word index is
        fused with the vectors by reciprocal rank; by default (None) when rag.hybrid is on, or
        when rag.exact_names is and the query names something exactly (storage.root). The
        score is always the chunk's cosine similarity, so min_score means the same either way.
        user_id is accepted for the seed's signature and auditing; it does not filter.
        Raises InvalidInput for an empty or over-long query or an out-of-range option.
        """
        from core.rag.lexical import parse_query
        from core.rag.search import Ranking, candidates, select

        text = self._check_query(text)
        top_k = self.settings.top_k if top_k is None else top_k
        min_score = self.settings.min_score if min_score is None else min_score
        per_document = self.settings.per_document if per_document is None else per_document
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 100:
            raise InvalidInput(f"top_k must be an integer from 1 to 100, not {top_k!r}")
        if not isinstance(min_score, int | float) or not -1.0 <= float(min_score) <= 1.0:
            raise InvalidInput(f"min_score must be a number from -1 to 1, not {min_score!r}")
        if (
            isinstance(per_document, bool)
            or not isinstance(per_document, int)
            or not 1 <= per_document <= 100
        ):
            raise InvalidInput(
                f"per_document must be an integer from 1 to 100, not {per_document!r}"
            )
        scope = Scope.of(guild_id)
        if user_id is not None:
            _user(user_id)
        lexical = parse_query(text)
        if hybrid is None:  # the settings: always, or only for exact names
            hybrid = self.settings.hybrid or (self.settings.exact_names and lexical.exact)
        ranking = Ranking(
            top_k=top_k, per_document=None if passages else per_document, hybrid=bool(hybrid)
        )
        vector = self._embed_query(text)
        index = self.passage_index() if hybrid and lexical else None
        hits = candidates(
            self.store,
            index,
            vector,
            lexical,
            scopes=_visible(scope),
            ranking=ranking,
        )
        if not hits:
            self._check_vectors_present()
        return [
            QueryResult.of(hit)
            for hit in select([h for h in hits if h.score >= min_score], ranking)
        ]

    def passage_index(self) -> PassageIndex:
        """The lexical index, built from the vector store's chunks the first time it is
        found empty while vectors exist (a store made before it existed)."""
        index = self.repo.passages()
        if not self._passages_checked:
            with self._lock:
                if not self._passages_checked:
                    if index.empty() and self.store.count():
                        from core.rag.search import rebuild_passages

                        started = time.perf_counter()
                        written = rebuild_passages(self.store.vectors, index)
                        log.info(
                            "rag: built the lexical index of %d chunks in %.1f s",
                            written,
                            time.perf_counter() - started,
                        )
                    self._passages_checked = True
        return index

    def _embed_query(self, text: str) -> list[float]:
        embedder = self.embedder
        if self._store is not None:
            return embedder.embed([text])[0]
        # First query of the process (the CLI): load the model and run it in a worker thread
        # (onnxruntime releases the GIL) while this one imports and opens Chroma.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-embed") as pool:
            future = pool.submit(embedder.embed, [text])
            _ = self.store
            return future.result()[0]

    def _check_vectors_present(self) -> None:
        """Refuse to answer "nothing" when the vectors are gone but documents are recorded.

        Checked only after an empty answer: a deleted or emptied Chroma store would otherwise
        make every query, /search and /ask quietly find nothing.
        """
        if self.store.count():
            return
        counts = self.repo.counts()
        ready = counts["documents"] - counts["pending"]
        if ready:
            raise ConfigError(
                f"the vector store {self.store.location} holds no vectors but {ready:,} "
                "documents are recorded (was it deleted?): run 'abby rag verify', then "
                "'abby rag ingest' their folders again to re-embed them"
            )

    def store_missing(self) -> bool:
        """True when the embedded store's files are not there (never created, or deleted)."""
        return (
            self.settings.chroma_url is None and not (self.chroma_path / "chroma.sqlite3").exists()
        )

    def _check_query(self, text: object) -> str:
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("the query is empty: ask a question or give a few keywords")
        text = text.strip()
        limit = self.settings.max_query_chars
        if len(text) > limit:
            raise InvalidInput(
                f"the query is {len(text):,} characters; the limit is {limit:,} "
                "(rag.max_query_chars): ask about one thing at a time"
            )
        return text

    # --- documents ------------------------------------------------------------------------

    def list(
        self, scope: Scope = Scope.GLOBAL, *, user_id: str | None = None
    ) -> list[DocumentRecord]:
        """Documents a scope can see: a guild its own and the global ones; Scope.EVERY all."""
        return self.repo.find(scopes=_visible(scope), user_id=_user(user_id))

    def get(self, doc_id: str, *, guild_id: str | None = None) -> DocumentRecord:
        """The document, or UnknownDocument (also when it belongs to another scope)."""
        doc_id = check_id(doc_id, "document id")
        record = self.repo.get(doc_id)
        if record is None or (guild_id is not None and record.scope != Scope.of(guild_id).key):
            where = f" in guild {guild_id}" if guild_id is not None else ""
            raise UnknownDocument(f"no document {doc_id}{where}")
        return record

    def delete(self, doc_id: str, *, guild_id: str | None = None) -> DocumentRecord:
        """Delete a document and its chunks. With guild_id, only that guild's own documents."""
        record = self.get(doc_id, guild_id=guild_id)
        remove_records(self._parts(), [record])
        log.info("rag: deleted document %s (%d chunks)", record.doc_id, record.chunk_count)
        self.events.emit("rag_delete", {"guild_id": record.guild_id, "doc_id": record.doc_id})
        return record

    def stats(self) -> dict[str, Any]:
        """Document and chunk counts, the model and where the vectors live."""
        counts = self.repo.counts()
        store = self.store
        model, dimension = store.stored_model()
        return {
            "documents": counts["documents"],
            "pending": counts["pending"],
            "chunks": counts["chunks"],
            "vectors": store.count(),
            "scopes": counts["scopes"],
            "embedding_model": model,
            "dimension": dimension,
            "collection": store.name,
            "store": store.location,
            "reindex_needed": self.index_status().reason or None,
        }

    def index_status(self) -> IndexStatus:
        """Whether documents were cut by an older chunker or embedded by another model."""
        from core.rag.versions import index_status

        return index_status(self.repo, self.embedder_name)

    # --- maintenance (core.rag.maintenance) ----------------------------------------------

    def verify(
        self, *, repair: bool = False, force: bool = False, dry_run: bool = False
    ) -> VerifyReport:
        """Reconcile records with Chroma's chunks; with repair, fix what a crash left.

        Raises Refused when the repair would delete more than half of the knowledge base,
        unless force: that is a lost database or store, not an interrupted ingest. With
        dry_run, a repair reports what it would do and changes nothing.
        """
        from core.rag.maintenance import verify

        return verify(self._parts(), repair=repair, force=force, dry_run=dry_run)

    def reindex(self, *, progress: Progress | None = None, dry_run: bool = False) -> dict[str, Any]:
        """Rebuild every chunk's vector under the configured embedding model (dry_run: say
        how many chunks and which models, change nothing)."""
        from core.rag.maintenance import reindex

        return reindex(self._parts(), progress=progress, dry_run=dry_run)

    def evaluate(
        self,
        cases: Iterable[Mapping[str, Any]],
        *,
        guild_id: str | None = None,
        k: int = 5,
        **query_options: Any,  # noqa: ANN401 - query()'s keyword options, passed through
    ) -> EvalReport:
        """Recall@k, MRR and nDCG@k of the given cases (see maintenance.read_eval_file)."""
        from core.rag.maintenance import evaluate

        if not 1 <= k <= 100:
            raise InvalidInput(f"k must be from 1 to 100, not {k}")
        return evaluate(self.query, cases, guild_id=guild_id, k=k, **query_options)


def _visible(scope: Scope) -> tuple[Scope, ...]:
    """The scopes a scope reads: a guild its own and the global one; every scope all."""
    return (scope,) if scope.is_every or scope.is_global else (scope, Scope.GLOBAL)


def _user(user_id: str | None) -> str | None:
    return None if user_id is None else check_id(user_id, "user id")


def _text_field(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} must be non-empty text")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{name} is {len(value)} characters; the limit is {limit}")
    return value
