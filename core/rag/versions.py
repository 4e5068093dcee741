"""Which chunker and which model built a record: the content hash, and the index status.

A record's content hash names the chunker that cut it (`c3-...`; a bare hex digest is
chunker 1) and its embedding model is on the record, so `index_status` says, without
opening the vector store, how many documents a reindex would rebuild and why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.rag.repository import DocumentRecord, DocumentRepository

# 2: context prefix with a lead, template lines and repeated chunks dropped (issue #12).
# 3: a document vector beside the chunks (core.rag.documents), built by the next ingest.
CHUNKER_VERSION = "3"


def content_hash(data: bytes, *, chunk_tokens: int, overlap_tokens: int, title: str = "") -> str:
    """`c<chunker version>-<digest of the parameters, title and bytes>`: the prefix says which
    chunker cut the document (core.rag.migration), the digest whether its content changed."""
    digest = hashlib.sha256(f"{chunk_tokens}:{overlap_tokens}:".encode())
    digest.update(title.encode())
    digest.update(b"\0")
    digest.update(data)
    return f"c{CHUNKER_VERSION}-{digest.hexdigest()}"


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


def index_status(repo: DocumentRepository, model: str) -> IndexStatus:
    """How many recorded documents another chunker cut or another model than `model` embedded."""
    records = repo.find()
    chunker = sum(1 for r in records if chunker_of(r) != CHUNKER_VERSION)
    other_model = sum(1 for r in records if r.embedding_model != model)
    return IndexStatus(
        current=not (chunker or other_model),
        chunker=CHUNKER_VERSION,
        model=model,
        outdated_chunker=chunker,
        outdated_model=other_model,
    )


__all__ = ["CHUNKER_VERSION", "IndexStatus", "chunker_of", "content_hash", "index_status"]
