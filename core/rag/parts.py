"""The collaborators an ingest, a repair or a reindex works with, handed over explicitly.

`RagService` builds one `Parts` per operation; `core.rag.ingestion`, `core.rag.maintenance`
and `core.rag.migration` take it instead of the service, so they read nothing private and
depend on nothing above them. The document records, the vector store and the model open on
first use (a repair of a deleted store never opens one), so those three are handed over as
openers and read through properties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.telemetry.governance import Governance

if TYPE_CHECKING:
    from core.clock import Clock
    from core.config import RagSettings
    from core.rag.embedding import Embedder
    from core.rag.repository import DocumentRepository
    from core.rag.search import IndexedStore
    from core.rag.store import VectorStore


@dataclass(frozen=True)
class Parts:
    """Settings, clock and events, and openers of the records, the store and the model."""

    settings: RagSettings
    clock: Clock
    open_repo: Callable[[], DocumentRepository]
    open_store: Callable[[], IndexedStore]
    open_embedder: Callable[[], Embedder]
    # The configured model's name, without loading the model.
    model_name: Callable[[], str]
    # Another collection of the same Chroma (reindex builds beside the live one), unchecked.
    open_collection: Callable[[str], VectorStore]
    # Drop the handle on the live collection (after a reindex swapped it).
    close_store: Callable[[], None]
    # True when the embedded store's files are not there (a read must not create them).
    store_missing: Callable[[], bool]
    events: Governance = field(default_factory=Governance)
    # Never ingested, even inside a folder given: the store, the models, Abby's own files.
    private_paths: tuple[Path, ...] = ()
    # Tests set this to interrupt a write at a named point ("after_vectors").
    crash_hook: Callable[[str], None] | None = None

    @property
    def repo(self) -> DocumentRepository:
        return self.open_repo()

    @property
    def store(self) -> IndexedStore:
        return self.open_store()

    @property
    def embedder(self) -> Embedder:
        return self.open_embedder()


__all__ = ["Parts"]
