"""The vector store: one Chroma collection (cosine space) holding every guild's chunks.

Embedded by default (`PersistentClient` in `<data dir>/chroma`), or a Chroma server when
`rag.chroma_url` is set. Embeddings are always passed in: the collection has no embedding
function, so Chroma never tries to download its default model.

The collection's metadata names the embedding model and dimension it was built with; opening
it with another model is refused (`abby rag reindex` rebuilds it).

Cross-process safety of the embedded store (DESIGN.md section 3): a long-lived client does
not see another process's writes until it reopens, and a stale client that writes would work
from an out-of-date index. So every write runs under an exclusive `flock` on
`<chroma>/abby.lock` and bumps the counter in `<chroma>/abby.generation`; every read and write
first compares that counter with the one this process last saw and, when it moved, drops
Chroma's cached system for the path and reopens (about 15 ms). Reads hold the lock shared,
so they never load an index that a writer is halfway through persisting. Within a process,
one lock serialises Chroma calls, because a reopen invalidates every open handle on the path.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.errors import ConfigError, ServiceUnavailable
from core.ids import GLOBAL_SCOPE
from core.rag.repository import scope_keys
from core.scope import Scope

log = logging.getLogger(__name__)

# The embedded store reopens by clearing chromadb's per-path system cache, a private part
# of chromadb (see _refresh); these are the releases it was checked against.
SUPPORTED_CHROMADB = ">=1.0,<2"

# One per process on purpose: Chroma keeps one shared "system" per path per process, and a
# reopen replaces it under every handle at once.
_PROCESS_LOCK = threading.RLock()
LOCK_FILE = "abby.lock"
GENERATION_FILE = "abby.generation"


@dataclass(frozen=True)
class Hit:
    """One chunk returned by a vector query; score is cosine similarity (higher is closer)."""

    chunk_id: str
    text: str
    score: float
    metadata: Mapping[str, Any]


class VectorStore:
    """A Chroma collection of chunks with `scope`, `doc_id` and `chunk` metadata."""

    def __init__(
        self,
        *,
        collection: str,
        model: str,
        dimension: int,
        path: Path | None = None,
        url: str | None = None,
        check_model: bool = True,
    ) -> None:
        if (path is None) == (url is None):
            raise ValueError("give exactly one of path (embedded) or url (server)")
        self.name = collection
        self.model = model
        self.dimension = dimension
        self.path = Path(path) if path is not None else None
        self.url = url
        self._check_model = check_model
        self._client: Any = None
        self._collection: Any = None
        self._system: Any = None
        self._seen_generation: int | None = None
        self._lock_fd: int | None = None

    @property
    def location(self) -> str:
        if self.url:
            parts = urlsplit(self.url)
            return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}".rstrip(":")
        return str(self.path)

    # --- public operations --------------------------------------------------------------

    def add(
        self,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]] | Any,  # noqa: ANN401 - lists or a numpy matrix
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Add chunks in as few Chroma calls as its batch limit allows."""
        if not ids:
            return
        with self._writing() as collection:
            step = self._client.get_max_batch_size()
            for start in range(0, len(ids), step):
                end = start + step
                collection.add(
                    ids=list(ids[start:end]),
                    embeddings=embeddings[start:end],
                    documents=list(documents[start:end]),
                    metadatas=[dict(m) for m in metadatas[start:end]],
                )

    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        """Remove every chunk of these documents."""
        if not doc_ids:
            return
        with self._writing() as collection:
            for start in range(0, len(doc_ids), 1000):
                collection.delete(where={"doc_id": {"$in": list(doc_ids[start : start + 1000])}})

    def delete_ids(self, chunk_ids: Sequence[str]) -> None:
        if not chunk_ids:
            return
        with self._writing() as collection:
            step = self._client.get_max_batch_size()
            for start in range(0, len(chunk_ids), step):
                collection.delete(ids=list(chunk_ids[start : start + step]))

    def query(
        self,
        embedding: Sequence[float] | Any,  # noqa: ANN401 - a list or a numpy row
        *,
        scopes: Iterable[Scope | str],
        top_k: int,
    ) -> list[Hit]:
        """The top_k chunks closest to embedding among those of these scopes (Scope values
        or stored keys; Scope.EVERY for all). The scope is the `where` of the vector query
        itself, so another scope's chunks can neither appear nor use up the top_k."""
        keys = scope_keys(scopes)
        if keys == []:
            return []
        where: dict[str, Any] | None = None
        if keys is not None:
            where = {"scope": {"$in": keys}} if len(keys) > 1 else {"scope": keys[0]}
        with self._reading() as collection:
            result = collection.query(
                query_embeddings=[embedding],
                n_results=top_k,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        ids = result["ids"][0]
        return [
            Hit(
                chunk_id=chunk_id,
                text=result["documents"][0][i] or "",
                score=1.0 - float(result["distances"][0][i]),
                metadata=result["metadatas"][0][i] or {},
            )
            for i, chunk_id in enumerate(ids)
        ]

    def score_ids(
        self,
        embedding: Sequence[float] | Any,  # noqa: ANN401 - a list or a numpy row
        chunk_ids: Sequence[str],
        *,
        scopes: Iterable[Scope | str],
    ) -> list[Hit]:
        """These chunks, those of the given scopes only, scored by cosine similarity.

        For chunks another index found (the lexical one): their score is the same cosine a
        vector query gives, so results of both stay comparable. Missing ids are left out.
        The scope is checked here on each chunk's metadata rather than by a `where`, which
        makes Chroma scan its metadata (8x slower for 40 ids); the ids are already a scoped
        search's answer, so this only guards against a stale passage.
        """
        if not chunk_ids:
            return []
        import numpy as np

        with self._reading() as collection:
            page = collection.get(
                ids=list(chunk_ids), include=["embeddings", "documents", "metadatas"]
            )
        keys = scope_keys(scopes)
        rows = [
            i
            for i, meta in enumerate(page["metadatas"])
            if meta is not None and (keys is None or str(meta.get("scope", GLOBAL_SCOPE)) in keys)
        ]
        if not rows:
            return []
        query = np.asarray(embedding, dtype=np.float32)
        vectors = np.asarray([page["embeddings"][i] for i in rows], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(query) or 1.0)
        scores = vectors @ query / np.where(norms == 0, 1.0, norms)
        return [
            Hit(
                chunk_id=page["ids"][i],
                text=page["documents"][i] or "",
                score=float(scores[n]),
                metadata=page["metadatas"][i] or {},
            )
            for n, i in enumerate(rows)
        ]

    def count(self) -> int:
        with self._reading() as collection:
            return int(collection.count())

    def chunk_counts(self, doc_ids: Sequence[str]) -> dict[str, int]:
        """How many chunks each of these documents has in the store (0 when none)."""
        counts = dict.fromkeys(doc_ids, 0)
        for start in range(0, len(doc_ids), 1000):
            where = {"doc_id": {"$in": list(doc_ids[start : start + 1000])}}
            with self._reading() as collection:
                page = collection.get(where=where, include=["metadatas"])
            for meta in page["metadatas"]:
                doc_id = str((meta or {}).get("doc_id", ""))
                if doc_id in counts:
                    counts[doc_id] += 1
        return counts

    def chunks_of(self, doc_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """{"id", "metadata", "document"} of each chunk of these documents, in chunk order."""
        found: dict[str, list[dict[str, Any]]] = {doc_id: [] for doc_id in doc_ids}
        for start in range(0, len(doc_ids), 200):
            where = {"doc_id": {"$in": list(doc_ids[start : start + 200])}}
            with self._reading() as collection:
                page = collection.get(where=where, include=["metadatas", "documents"])
            for i, chunk_id in enumerate(page["ids"]):
                meta = page["metadatas"][i] or {}
                rows = found.get(str(meta.get("doc_id", "")))
                if rows is not None:
                    rows.append(
                        {"id": chunk_id, "metadata": meta, "document": page["documents"][i] or ""}
                    )
        for rows in found.values():
            rows.sort(key=lambda row: int(row["metadata"].get("chunk", 0)))
        return found

    def scan(self, *, batch: int = 5000, documents: bool = False) -> Iterator[dict[str, Any]]:
        """Yield {"id", "metadata"[, "document"]} for every chunk, a page at a time."""
        include = ["metadatas", "documents"] if documents else ["metadatas"]
        offset = 0
        while True:
            with self._reading() as collection:
                page = collection.get(include=include, limit=batch, offset=offset)
            if not page["ids"]:
                return
            for i, chunk_id in enumerate(page["ids"]):
                row = {"id": chunk_id, "metadata": page["metadatas"][i] or {}}
                if documents:
                    row["document"] = page["documents"][i] or ""
                yield row
            offset += len(page["ids"])

    def stored_model(self) -> tuple[str | None, int | None]:
        """The model and dimension recorded on the collection (None when it is new)."""
        with self._reading() as collection:
            meta = collection.metadata or {}
        return meta.get("embedding_model"), meta.get("embedding_dimension")

    def drop(self) -> None:
        """Delete the whole collection (reindex swaps collections with this)."""
        with self._writing(), self._errors():
            self._client.delete_collection(self.name)
        self._collection = None

    def rename_to(self, new_name: str) -> None:
        with self._writing() as collection:
            collection.modify(name=new_name)
        self.name = new_name
        self._collection = None

    def exists(self) -> bool:
        with _PROCESS_LOCK, self._shared(), self._errors():
            self._refresh()
            names = {c if isinstance(c, str) else c.name for c in self._client.list_collections()}
        return self.name in names

    def close(self) -> None:
        with _PROCESS_LOCK:
            self._collection = None
            self._client = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # --- freshness and locking ------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        with _PROCESS_LOCK, self._shared(), self._errors():
            self._refresh()
            yield self._open_collection()

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        with _PROCESS_LOCK, self._exclusive(), self._errors():
            self._refresh()
            collection = self._open_collection()
            try:
                yield collection
            finally:
                # Bump even when the write failed halfway: part of it may be on disk.
                self._bump_generation()

    @contextmanager
    def _shared(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        fd = self._lock()
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        fd = self._lock()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _lock(self) -> int:
        if self._lock_fd is None:
            assert self.path is not None
            try:
                self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._lock_fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise ConfigError(
                    f"cannot open the vector store {self.path}: {exc.strerror}"
                ) from exc
        return self._lock_fd

    def _generation(self) -> int:
        assert self.path is not None
        try:
            return int((self.path / GENERATION_FILE).read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _bump_generation(self) -> None:
        if self.path is None:
            return
        value = self._generation() + 1
        temp = self.path / f"{GENERATION_FILE}.{os.getpid()}"
        temp.write_text(str(value))
        os.replace(temp, self.path / GENERATION_FILE)
        self._seen_generation = value  # our own client has seen its own write

    def _refresh(self) -> None:
        """Reopen when another process wrote, or another handle here reopened the path."""
        if self.path is None:
            if self._client is None:
                self._client = self._connect()
            return
        SharedSystemClient = _shared_system_client()
        generation = self._generation()
        identifier = str(self.path)
        if self._client is not None and generation != self._seen_generation:
            stale = SharedSystemClient._identifier_to_system.pop(identifier, None)
            SharedSystemClient._identifier_to_refcount.pop(identifier, None)
            if stale is not None:
                stale.stop()
            self._client = None
            log.debug("vector store changed on disk (generation %d); reopened", generation)
        elif (
            self._client is not None
            and SharedSystemClient._identifier_to_system.get(identifier) is not self._system
        ):
            self._client = None
        if self._client is None:
            self._client = self._connect()
            self._system = SharedSystemClient._identifier_to_system.get(identifier)
            self._collection = None
        self._seen_generation = generation

    def _connect(self) -> Any:  # noqa: ANN401 - a chromadb client (untyped factories)
        import chromadb

        settings = chromadb.Settings(anonymized_telemetry=False, allow_reset=False)
        if self.path is not None:
            try:
                self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the vector store {self.path}: {exc.strerror}"
                ) from exc
            return chromadb.PersistentClient(path=str(self.path), settings=settings)
        parts = urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"rag.chroma_url must be http(s)://host[:port], not {self.url!r}")
        ssl = parts.scheme == "https"
        return chromadb.HttpClient(
            host=parts.hostname,
            port=parts.port or (443 if ssl else 8000),
            ssl=ssl,
            settings=settings,
        )

    def _open_collection(self) -> Any:  # noqa: ANN401 - a chromadb Collection
        if self._collection is not None:
            return self._collection
        collection = self._client.get_or_create_collection(
            self.name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedding_model": self.model, "embedding_dimension": self.dimension},
            embedding_function=None,  # never let Chroma load (download) its default model
        )
        meta = collection.metadata or {}
        built = (meta.get("embedding_model"), meta.get("embedding_dimension"))
        if (
            self._check_model
            and built != (self.model, self.dimension)
            and not _interchangeable(built, (self.model, self.dimension))
        ):
            raise ConfigError(
                f"the knowledge base was built with {built[0]} ({built[1]} dimensions) but "
                f"embeddings.model is {self.model} ({self.dimension}); run 'abby rag reindex' "
                "to rebuild it, or set the model back"
            )
        self._collection = collection
        return collection

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate Chroma and connection failures at the boundary."""
        try:
            yield
        except (ConfigError, ServiceUnavailable):
            raise
        except Exception as exc:
            translated = _translate(exc, self.location)
            if translated is None:
                raise
            raise translated from exc


def _shared_system_client() -> Any:  # noqa: ANN401 - chromadb's private class
    """chromadb's per-path system cache, or one clear ConfigError on a release without it."""
    found: object = None
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        found = SharedSystemClient
    except ImportError:
        pass
    if not all(
        isinstance(getattr(found, name, None), dict)
        for name in ("_identifier_to_system", "_identifier_to_refcount")
    ):
        import chromadb

        raise ConfigError(
            f"chromadb {getattr(chromadb, '__version__', '?')} is not supported: Abby's "
            f"embedded vector store needs chromadb{SUPPORTED_CHROMADB} "
            f"(pip install 'chromadb{SUPPORTED_CHROMADB}')"
        )
    return found


def _interchangeable(built: tuple[Any, Any], wanted: tuple[str, int]) -> bool:
    """Two variants of the local model: the store answers (and says it wants a reindex)."""
    from core.rag.embedding_models import LOCAL_MODEL_FAMILY

    return built[1] == wanted[1] and {built[0], wanted[0]} <= LOCAL_MODEL_FAMILY


def _translate(exc: Exception, where: str) -> Exception | None:
    import httpx

    if isinstance(exc, httpx.HTTPError | ConnectionError):
        return ServiceUnavailable(f"the Chroma server at {where} is unreachable; retry later")
    name = type(exc).__name__
    if "ConnectError" in name or "Connection" in name:
        return ServiceUnavailable(f"the Chroma server at {where} is unreachable; retry later")
    if isinstance(exc, ValueError) and "Could not connect" in str(exc):
        return ServiceUnavailable(f"the Chroma server at {where} is unreachable; retry later")
    if isinstance(exc, PermissionError):
        return ConfigError(f"cannot write the vector store {where}: permission denied")
    return None
