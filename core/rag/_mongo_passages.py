"""The lexical index on MongoDB: a text index over the chunks, ranked by textScore.

`rag_passages` holds one document per chunk (`_id` = chunk id, doc id, scope, title,
heading, text) under one text index weighting title over heading over text. The scope is an
ordinary predicate of the same `find` as `$text`, so the server filters before it sorts by
score and limits. (No scope prefix in the index: MongoDB needs an equality on such a prefix,
and a guild's query asks for two scopes, its own and the global one.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import DeleteMany, ReplaceOne
from pymongo.database import Database

from core.db.mongo import MongoDatabase, ascending
from core.rag.lexical import LexicalQuery
from core.rag.repository import LexicalHit, Passage, PassageIndex, scope_keys
from core.scope import Scope

SCHEMA_VERSION = 1
COLLECTION = "rag_passages"
_WEIGHTS = {"title": 4, "heading": 2, "text": 1}
_IN_BATCH = 200  # see core.rag._mongo


def _setup(db: Database) -> None:
    passages = db[COLLECTION]
    passages.create_index(ascending("doc_id"), name="doc")
    passages.create_index(
        [(name, "text") for name in _WEIGHTS],
        weights=_WEIGHTS,
        default_language="english",
        name="passage_text",
    )


def _batches(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _IN_BATCH):
        yield list(ids[start : start + _IN_BATCH])


class MongoPassageIndex(PassageIndex):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._passages = db.table(COLLECTION)
        db.ensure("rag_passages", SCHEMA_VERSION, _setup)

    def put(self, passages: Sequence[Passage]) -> None:
        if passages:
            self._passages.bulk_write(
                [
                    ReplaceOne(
                        {"_id": p.chunk_id},
                        {
                            "_id": p.chunk_id,
                            "doc_id": p.doc_id,
                            "scope": p.scope,
                            "title": p.title,
                            "heading": p.heading,
                            "text": p.text,
                        },
                        upsert=True,
                    )
                    for p in passages
                ],
                ordered=False,
            )

    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        self._delete("doc_id", doc_ids)

    def delete_ids(self, chunk_ids: Sequence[str]) -> None:
        self._delete("_id", chunk_ids)

    def _delete(self, field: str, values: Sequence[str]) -> None:
        if values:
            self._passages.bulk_write(
                [DeleteMany({field: {"$in": batch}}) for batch in _batches(values)],
                ordered=False,
            )

    def search(
        self, query: LexicalQuery, *, scopes: Iterable[Scope | str], limit: int
    ) -> list[LexicalHit]:
        searches = query.text_searches()
        keys = scope_keys(scopes)
        if not searches or keys == []:
            return []
        docs: dict[str, str] = {}
        # Sorted by textScore without projecting it (MongoDB 4.4+): fusion needs the order
        # only. No projection at all: with $text, the test stand-in returns only _id for
        # any projection; a few hundred passages of text cost little.
        for search in searches:
            where: dict[str, Any] = {"$text": {"$search": search}}
            if keys is not None:
                where["scope"] = {"$in": keys}
            cursor = (
                self._passages.find(where)
                .sort([("score", {"$meta": "textScore"}), ("_id", 1)])  # ties: stable
                .limit(limit)
            )
            for doc in cursor:
                docs.setdefault(doc["_id"], doc["doc_id"])
        found = list(docs.items())[:limit]
        return [
            LexicalHit(chunk_id, doc_id, float(len(found) - rank))
            for rank, (chunk_id, doc_id) in enumerate(found)
        ]

    def counts(self) -> dict[str, int]:
        pipeline = [{"$group": {"_id": "$doc_id", "n": {"$sum": 1}}}]
        return {doc["_id"]: int(doc["n"]) for doc in self._passages.aggregate(pipeline)}

    def empty(self) -> bool:
        return self._passages.find_one({}, {"_id": 1}) is None
