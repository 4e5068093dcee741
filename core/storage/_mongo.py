"""Storage on MongoDB: one document per file (`_id` = file id), one per (user, UTC day).

Usage is an aggregation over the records (indexed by user), so it is always exactly what the
records say even without multi-document transactions. The daily counter is one guarded
`find_one_and_update` with upsert; the unique (user_id, day) index turns a racing second
insert into DuplicateKeyError, and the retry then goes through the guard like everyone else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.db._mongo_records import MongoPortable
from core.db.codec import MONGO
from core.db.mongo import MongoDatabase, ascending
from core.scope import Scope
from core.storage.repository import (
    GLOBAL_OWNER,
    DailyCounterRepository,
    FileRecord,
    FileRepository,
    StoredPath,
    Usage,
)

SCHEMA_VERSION = 2  # 2: the gallery index on kept files
FILES = "storage_files"
DAILY = "quota_daily"


def _setup(db: Database[Any]) -> None:
    db[FILES].create_index(ascending("user_id", "scope", "created_at"), name="user_scope_time")
    db[FILES].create_index(ascending("path"), unique=True, name="path")
    db[FILES].create_index(ascending("kept", "created_at"), name="expiry")
    db[FILES].create_index(ascending("user_id", "kept", "created_at"), name="user_kept_time")
    db[DAILY].create_index(ascending("user_id", "day"), unique=True, name="user_day")


_NEWEST = [("created_at", DESCENDING), ("_id", DESCENDING)]


def _doc(record: FileRecord) -> dict[str, Any]:
    doc = MONGO.encode(record, exclude=("file_id",))
    return {"_id": record.file_id, **doc, "metadata": dict(record.metadata)}


def _record(doc: Mapping[str, Any] | None) -> FileRecord | None:
    return None if doc is None else _file(doc)


def _file(doc: Mapping[str, Any]) -> FileRecord:
    return MONGO.decode(
        FileRecord,
        doc,
        file_id=doc["_id"],
        kept=bool(doc["kept"]),
        metadata=doc.get("metadata") or {},
    )


def _of_user(user_id: str, scope: Scope, **more: Any) -> dict[str, Any]:  # noqa: ANN401 - filter values
    """The filter for a user's records in one scope (every scope: no scope condition)."""
    query: dict[str, Any] = {"user_id": user_id, **more}
    if not scope.is_every:
        query["scope"] = scope.key
    return query


class MongoFileRepository(FileRepository, MongoPortable):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._files = db.table(FILES)
        db.ensure("storage", SCHEMA_VERSION, _setup)

    def insert(self, record: FileRecord) -> None:
        self._files.insert_one(_doc(record))

    def get(self, file_id: str) -> FileRecord | None:
        return _record(self._files.find_one({"_id": file_id}))

    def find_by_path(self, path: str) -> FileRecord | None:
        return _record(self._files.find_one({"path": path}))

    def list_for_user(self, user_id: str, scope: Scope, limit: int) -> list[FileRecord]:
        cursor = self._files.find(_of_user(user_id, scope)).sort(_NEWEST).limit(limit)
        return [_file(doc) for doc in cursor]

    def delete(self, file_id: str) -> FileRecord | None:
        return _record(self._files.find_one_and_delete({"_id": file_id}))

    def delete_owned(self, file_id: str, user_id: str) -> FileRecord | None:
        return _record(self._files.find_one_and_delete({"_id": file_id, "user_id": user_id}))

    def set_kept(self, file_id: str, user_id: str, kept: bool) -> FileRecord | None:
        doc = self._files.find_one_and_update(
            {"_id": file_id, "user_id": user_id},
            {"$set": {"kept": bool(kept)}},
            return_document=ReturnDocument.AFTER,
        )
        return _record(doc)

    def kept_for_user(
        self, user_id: str, scope: Scope, offset: int, limit: int
    ) -> list[FileRecord]:
        query = _of_user(user_id, scope, kept=True)
        cursor = self._files.find(query).sort(_NEWEST).skip(offset).limit(limit)
        return [_file(doc) for doc in cursor]

    def delete_many(self, file_ids: Sequence[str]) -> int:
        deleted = 0
        for start in range(0, len(file_ids), 1000):
            chunk = list(file_ids[start : start + 1000])
            deleted += self._files.delete_many({"_id": {"$in": chunk}}).deleted_count
        return deleted

    def _totals(self, match: Mapping[str, Any], *later: Mapping[str, Any]) -> list[Usage]:
        group = {"_id": "$user_id", "bytes": {"$sum": "$bytes"}, "files": {"$sum": 1}}
        rows = self._files.aggregate([{"$match": match}, {"$group": group}, *later])
        return [Usage(row["_id"], int(row["bytes"]), int(row["files"])) for row in rows]

    def usage(self, owner: str) -> Usage:
        if owner != GLOBAL_OWNER:
            found = self._totals({"user_id": owner})
            return found[0] if found else Usage(owner, 0, 0)
        every = self._totals({})
        return Usage(owner, sum(u.bytes for u in every), sum(u.files for u in every))

    def top_users(self, limit: int) -> list[Usage]:
        return self._totals({}, {"$sort": {"bytes": -1, "_id": 1}}, {"$limit": limit})

    def expired(self, kept: bool, before: datetime) -> list[StoredPath]:
        query = {"kept": kept, "created_at": {"$lt": MONGO.time(before)}}
        cursor = self._files.find(query, {"path": 1, "bytes": 1})
        return [StoredPath(doc["_id"], doc["path"], doc["bytes"]) for doc in cursor]

    def all_paths(self) -> dict[str, StoredPath]:
        cursor = self._files.find({}, {"path": 1, "bytes": 1})
        return {doc["path"]: StoredPath(doc["_id"], doc["path"], doc["bytes"]) for doc in cursor}

    def count(self) -> int:
        return int(self._files.count_documents({}))


class MongoDailyCounterRepository(DailyCounterRepository, MongoPortable):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._daily = db.table(DAILY)
        db.ensure("storage", SCHEMA_VERSION, _setup)

    def reserve(self, user_id: str, day: str, limit: int) -> int | None:
        if limit <= 0:
            return None
        guard = {"user_id": user_id, "day": day, "used": {"$lt": limit}}
        for upsert in (True, False):
            try:
                doc = self._daily.find_one_and_update(
                    guard,
                    {"$inc": {"used": 1}},
                    upsert=upsert,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                # The day's document exists (full, or inserted by a racing request):
                # go through the guard again without inserting.
                continue
            return None if doc is None else int(doc["used"])
        return None

    def release(self, user_id: str, day: str) -> bool:
        result = self._daily.update_one(
            {"user_id": user_id, "day": day, "used": {"$gt": 0}}, {"$inc": {"used": -1}}
        )
        return bool(result.modified_count == 1)

    def used(self, user_id: str, day: str) -> int:
        doc = self._daily.find_one({"user_id": user_id, "day": day})
        return int(doc["used"]) if doc else 0
