"""RAG document records on MongoDB: one document per record, `_id` = doc id."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from pymongo import ReplaceOne
from pymongo.database import Database

from core.db._mongo_records import export_tables, import_tables
from core.db.mongo import MongoDatabase, ascending
from core.db.records import ImportReport, Records, RecordStream
from core.ids import guild_of
from core.rag.repository import (
    PENDING,
    READY,
    DocumentRecord,
    DocumentRepository,
    PassageIndex,
    State,
)

SCHEMA_VERSION = 2  # 2: the rag_lines index
COLLECTION = "rag_documents"
# One document per record: {_id: doc id, scope, lines: [keys]} (core.rag.boilerplate).
LINES_COLLECTION = "rag_lines"
# Ids per $in: MongoDB takes far more, but some compatible servers nest $in into an
# expression tree of limited depth; a few hundred per round trip costs nothing.
_IN_BATCH = 200


def _batches(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _IN_BATCH):
        yield list(ids[start : start + _IN_BATCH])


def _setup(db: Database) -> None:
    db[COLLECTION].create_index(ascending("scope", "source"), unique=True, name="scope_source")
    db[COLLECTION].create_index(ascending("user_id"), name="user")
    db[LINES_COLLECTION].create_index(ascending("scope"), name="scope")


def _record(doc: dict[str, Any]) -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc["_id"],
        guild_id=guild_of(doc["scope"]),
        title=doc["title"],
        source=doc["source"],
        user_id=doc.get("user_id"),
        tags=tuple(doc.get("tags") or ()),
        content_hash=doc["content_hash"],
        chunk_count=doc["chunk_count"],
        ingested_at=doc["ingested_at"],
        embedding_model=doc["embedding_model"],
        state=doc["state"],
    )


def _document(record: DocumentRecord) -> dict[str, Any]:
    return {
        "_id": record.doc_id,
        "scope": record.scope,
        "title": record.title,
        "source": record.source,
        "user_id": record.user_id,
        "tags": list(record.tags),
        "content_hash": record.content_hash,
        "chunk_count": record.chunk_count,
        "ingested_at": record.ingested_at,
        "embedding_model": record.embedding_model,
        "state": PENDING,
    }


class MongoDocumentRepository(DocumentRepository):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._passage_index: PassageIndex | None = None
        self._docs = db.collection(COLLECTION)
        self._lines = db.collection(LINES_COLLECTION)
        db.ensure("rag", SCHEMA_VERSION, _setup)

    # --- moving data between backends (core.db.records) ----------------------------------

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)

    def get(self, doc_id: str) -> DocumentRecord | None:
        with self._db.errors():
            doc = self._docs.find_one({"_id": doc_id})
        return None if doc is None else _record(doc)

    def get_many(self, doc_ids: Iterable[str]) -> dict[str, DocumentRecord]:
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return {}
        found: dict[str, DocumentRecord] = {}
        with self._db.errors():
            for batch in _batches(ids):
                for doc in self._docs.find({"_id": {"$in": batch}}):
                    found[doc["_id"]] = _record(doc)
        return found

    def find(
        self,
        *,
        scopes: Sequence[str] | None = None,
        user_id: str | None = None,
        source_prefix: str | None = None,
        state: State | None = None,
    ) -> list[DocumentRecord]:
        query: dict[str, Any] = {}
        if scopes is not None:
            query["scope"] = {"$in": list(scopes)}
        if user_id is not None:
            query["user_id"] = user_id
        if source_prefix is not None:
            query["source"] = {"$regex": "^" + re.escape(source_prefix)}
        if state is not None:
            query["state"] = state
        with self._db.errors():
            docs = list(self._docs.find(query))
        return sorted((_record(doc) for doc in docs), key=lambda r: (r.source, r.doc_id))

    def put_pending(self, records: Sequence[DocumentRecord]) -> None:
        if not records:
            return
        with self._db.errors():
            self._docs.bulk_write(
                [ReplaceOne({"_id": r.doc_id}, _document(r), upsert=True) for r in records],
                ordered=True,
            )

    def mark_ready(self, doc_ids: Sequence[str]) -> int:
        if not doc_ids:
            return 0
        changed = 0
        with self._db.errors():
            for batch in _batches(doc_ids):
                changed += self._docs.update_many(
                    {"_id": {"$in": batch}}, {"$set": {"state": READY}}
                ).matched_count
        return changed

    def set_model(self, embedding_model: str) -> int:
        with self._db.errors():
            return self._docs.update_many(
                {}, {"$set": {"embedding_model": embedding_model}}
            ).matched_count

    def delete(self, doc_ids: Sequence[str]) -> int:
        if not doc_ids:
            return 0
        deleted = 0
        with self._db.errors():
            for batch in _batches(doc_ids):
                deleted += self._docs.delete_many({"_id": {"$in": batch}}).deleted_count
                self._lines.delete_many({"_id": {"$in": batch}})
        return deleted

    def put_lines(self, scope: str, lines: Mapping[str, Collection[str]]) -> None:
        if not lines:
            return
        with self._db.errors():
            self._lines.bulk_write(
                [
                    ReplaceOne(
                        {"_id": doc_id},
                        {"_id": doc_id, "scope": scope, "lines": sorted(set(keys))},
                        upsert=True,
                    )
                    for doc_id, keys in lines.items()
                ],
                ordered=False,
            )

    def template_lines(self, scope: str, *, document_key: str, threshold: int) -> set[str]:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"scope": scope}},
            {"$unwind": "$lines"},
            {"$match": {"lines": {"$ne": document_key}}},
            {"$group": {"_id": "$lines", "n": {"$sum": 1}}},
            {"$match": {"n": {"$gte": threshold}}},
        ]
        with self._db.errors():
            return {str(doc["_id"]) for doc in self._lines.aggregate(pipeline)}

    def line_documents(self, scope: str, *, document_key: str) -> int:
        with self._db.errors():
            return int(self._lines.count_documents({"scope": scope, "lines": document_key}))

    def passages(self) -> PassageIndex:
        from core.rag._mongo_passages import MongoPassageIndex

        if self._passage_index is None:
            self._passage_index = MongoPassageIndex(self._db)
        return self._passage_index

    def counts(self) -> dict[str, int]:
        documents = pending = chunks = 0
        scopes: set[str] = set()
        with self._db.errors():
            for doc in self._docs.find({}, {"scope": 1, "state": 1, "chunk_count": 1}):
                documents += 1
                pending += doc.get("state") == PENDING
                chunks += int(doc.get("chunk_count") or 0)
                scopes.add(doc.get("scope", ""))
        return {"documents": documents, "pending": pending, "chunks": chunks, "scopes": len(scopes)}
