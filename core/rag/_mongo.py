"""RAG document records on MongoDB: one document per record, `_id` = doc id."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from pymongo import ReplaceOne
from pymongo.database import Database

from core.db._mongo_records import MongoPortable
from core.db.codec import MONGO
from core.db.mongo import MongoDatabase, ascending
from core.rag.repository import (
    EVERY,
    PENDING,
    READY,
    DocumentRecord,
    DocumentRepository,
    PassageIndex,
    State,
    scope_keys,
    stored_key,
)
from core.scope import Scope

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


def _record(doc: Mapping[str, Any]) -> DocumentRecord:
    return MONGO.decode(DocumentRecord, doc, doc_id=doc["_id"], tags=tuple(doc.get("tags") or ()))


def _document(record: DocumentRecord) -> dict[str, Any]:
    doc = MONGO.encode(record, exclude=("doc_id",))
    doc.update(_id=record.doc_id, tags=list(record.tags), state=PENDING)
    return doc


class MongoDocumentRepository(DocumentRepository, MongoPortable):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._passage_index: PassageIndex | None = None
        self._docs = db.table(COLLECTION)
        self._lines = db.table(LINES_COLLECTION)
        db.ensure("rag", SCHEMA_VERSION, _setup)

    def get(self, doc_id: str) -> DocumentRecord | None:
        doc = self._docs.find_one({"_id": doc_id})
        return None if doc is None else _record(doc)

    def find(
        self,
        *,
        scopes: Iterable[Scope | str] = EVERY,
        user_id: str | None = None,
        source_prefix: str | None = None,
        state: State | None = None,
    ) -> list[DocumentRecord]:
        query: dict[str, Any] = {}
        keys = scope_keys(scopes)
        if keys is not None:
            query["scope"] = {"$in": keys}
        if user_id is not None:
            query["user_id"] = user_id
        if source_prefix is not None:
            query["source"] = {"$regex": "^" + re.escape(source_prefix)}
        if state is not None:
            query["state"] = state
        docs = self._docs.find(query)
        return sorted((_record(doc) for doc in docs), key=lambda r: (r.source, r.doc_id))

    def put_pending(self, records: Sequence[DocumentRecord]) -> None:
        if records:
            self._docs.bulk_write(
                [ReplaceOne({"_id": r.doc_id}, _document(r), upsert=True) for r in records],
                ordered=True,
            )

    def mark_ready(self, doc_ids: Sequence[str]) -> int:
        return sum(
            self._docs.update_many(
                {"_id": {"$in": batch}}, {"$set": {"state": READY}}
            ).matched_count
            for batch in _batches(doc_ids)
        )

    def set_model(self, embedding_model: str) -> int:
        result = self._docs.update_many({}, {"$set": {"embedding_model": embedding_model}})
        return int(result.matched_count)

    def delete(self, doc_ids: Sequence[str]) -> int:
        deleted = 0
        for batch in _batches(doc_ids):
            deleted += self._docs.delete_many({"_id": {"$in": batch}}).deleted_count
            self._lines.delete_many({"_id": {"$in": batch}})
        return deleted

    def put_lines(self, scope: Scope | str, lines: Mapping[str, Collection[str]]) -> None:
        key = stored_key(scope)
        if lines:
            self._lines.bulk_write(
                [
                    ReplaceOne(
                        {"_id": doc_id},
                        {"_id": doc_id, "scope": key, "lines": sorted(set(keys))},
                        upsert=True,
                    )
                    for doc_id, keys in lines.items()
                ],
                ordered=False,
            )

    def template_lines(self, scope: Scope | str, *, document_key: str, threshold: int) -> set[str]:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"scope": stored_key(scope)}},
            {"$unwind": "$lines"},
            {"$match": {"lines": {"$ne": document_key}}},
            {"$group": {"_id": "$lines", "n": {"$sum": 1}}},
            {"$match": {"n": {"$gte": threshold}}},
        ]
        return {str(doc["_id"]) for doc in self._lines.aggregate(pipeline)}

    def line_documents(self, scope: Scope | str, *, document_key: str) -> int:
        return int(self._lines.count_documents({"scope": stored_key(scope), "lines": document_key}))

    def passages(self) -> PassageIndex:
        from core.rag._mongo_passages import MongoPassageIndex

        if self._passage_index is None:
            self._passage_index = MongoPassageIndex(self._db)
        return self._passage_index

    def counts(self) -> dict[str, int]:
        documents = pending = chunks = 0
        scopes: set[str] = set()
        for doc in self._docs.find({}, {"scope": 1, "state": 1, "chunk_count": 1}):
            documents += 1
            pending += doc.get("state") == PENDING
            chunks += int(doc.get("chunk_count") or 0)
            scopes.add(str(doc.get("scope")))
        return {"documents": documents, "pending": pending, "chunks": chunks, "scopes": len(scopes)}
