"""Storage on MongoDB: one document per file (`_id` = file id), one per (user, UTC day).

Usage is an aggregation over the records (indexed by user), so it is always exactly what the
records say even without multi-document transactions. The daily counter is one guarded
`find_one_and_update` with upsert; the unique (user_id, day) index turns a racing second
insert into DuplicateKeyError, and the retry then goes through the guard like everyone else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.db._mongo_records import export_tables, import_tables
from core.db.mongo import MongoDatabase, ascending
from core.db.records import ImportReport, Records, RecordStream
from core.ids import guild_of
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


def _setup(db: Database) -> None:
    db[FILES].create_index(ascending("user_id", "scope", "created_at"), name="user_scope_time")
    db[FILES].create_index(ascending("path"), unique=True, name="path")
    db[FILES].create_index(ascending("kept", "created_at"), name="expiry")
    db[FILES].create_index(ascending("user_id", "kept", "created_at"), name="user_kept_time")
    db[DAILY].create_index(ascending("user_id", "day"), unique=True, name="user_day")


def _doc(record: FileRecord, scope: str) -> dict[str, Any]:
    return {
        "_id": record.file_id,
        "user_id": record.user_id,
        "scope": scope,
        "path": record.path,
        "bytes": record.bytes,
        "sha256": record.sha256,
        "content_type": record.content_type,
        "kept": record.kept,
        "created_at": record.created_at,
        "metadata": dict(record.metadata),
    }


def _record(doc: dict[str, Any]) -> FileRecord:
    return FileRecord(
        file_id=doc["_id"],
        user_id=doc["user_id"],
        guild_id=guild_of(doc["scope"]),
        path=doc["path"],
        bytes=doc["bytes"],
        sha256=doc["sha256"],
        content_type=doc["content_type"],
        kept=bool(doc["kept"]),
        created_at=doc["created_at"],
        metadata=doc.get("metadata") or {},
    )


class MongoFileRepository(FileRepository):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._files = db.collection(FILES)
        db.ensure("storage", SCHEMA_VERSION, _setup)

    # --- moving data between backends (core.db.records) ----------------------------------

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)

    def insert(self, record: FileRecord, scope: str) -> None:
        with self._db.errors():
            self._files.insert_one(_doc(record, scope))

    def insert_many(self, records: Iterable[tuple[FileRecord, str]]) -> int:
        docs = [_doc(record, scope) for record, scope in records]
        if not docs:
            return 0
        with self._db.errors():
            return len(self._files.insert_many(docs, ordered=False).inserted_ids)

    def get(self, file_id: str) -> FileRecord | None:
        with self._db.errors():
            doc = self._files.find_one({"_id": file_id})
        return None if doc is None else _record(doc)

    def find_by_path(self, path: str) -> FileRecord | None:
        with self._db.errors():
            doc = self._files.find_one({"path": path})
        return None if doc is None else _record(doc)

    def list_for_user(self, user_id: str, scope: str | None, limit: int) -> list[FileRecord]:
        query: dict[str, Any] = {"user_id": user_id}
        if scope is not None:
            query["scope"] = scope
        with self._db.errors():
            cursor = (
                self._files.find(query)
                .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
                .limit(limit)
            )
            return [_record(doc) for doc in cursor]

    def delete(self, file_id: str) -> FileRecord | None:
        with self._db.errors():
            doc = self._files.find_one_and_delete({"_id": file_id})
        return None if doc is None else _record(doc)

    def delete_owned(self, file_id: str, user_id: str) -> FileRecord | None:
        with self._db.errors():
            doc = self._files.find_one_and_delete({"_id": file_id, "user_id": user_id})
        return None if doc is None else _record(doc)

    def set_kept(self, file_id: str, user_id: str, kept: bool) -> FileRecord | None:
        with self._db.errors():
            doc = self._files.find_one_and_update(
                {"_id": file_id, "user_id": user_id},
                {"$set": {"kept": bool(kept)}},
                return_document=ReturnDocument.AFTER,
            )
        return None if doc is None else _record(doc)

    def kept_for_user(
        self, user_id: str, scope: str | None, offset: int, limit: int
    ) -> list[FileRecord]:
        query: dict[str, Any] = {"user_id": user_id, "kept": True}
        if scope is not None:
            query["scope"] = scope
        with self._db.errors():
            cursor = (
                self._files.find(query)
                .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
                .skip(offset)
                .limit(limit)
            )
            return [_record(doc) for doc in cursor]

    def delete_many(self, file_ids: Sequence[str]) -> int:
        deleted = 0
        with self._db.errors():
            for start in range(0, len(file_ids), 1000):
                chunk = list(file_ids[start : start + 1000])
                deleted += self._files.delete_many({"_id": {"$in": chunk}}).deleted_count
        return deleted

    def usage(self, owner: str) -> Usage:
        match = {} if owner == GLOBAL_OWNER else {"user_id": owner}
        with self._db.errors():
            rows = list(
                self._files.aggregate(
                    [
                        {"$match": match},
                        {
                            "$group": {
                                "_id": None,
                                "bytes": {"$sum": "$bytes"},
                                "files": {"$sum": 1},
                            }
                        },
                    ]
                )
            )
        if not rows:
            return Usage(owner, 0, 0)
        return Usage(owner, int(rows[0]["bytes"]), int(rows[0]["files"]))

    def top_users(self, limit: int) -> list[Usage]:
        with self._db.errors():
            rows = self._files.aggregate(
                [
                    {
                        "$group": {
                            "_id": "$user_id",
                            "bytes": {"$sum": "$bytes"},
                            "files": {"$sum": 1},
                        }
                    },
                    {"$sort": {"bytes": -1, "_id": 1}},
                    {"$limit": limit},
                ]
            )
            return [Usage(row["_id"], int(row["bytes"]), int(row["files"])) for row in rows]

    def expired(self, kept: bool, before: datetime) -> list[StoredPath]:
        with self._db.errors():
            cursor = self._files.find(
                {"kept": kept, "created_at": {"$lt": before}}, {"path": 1, "bytes": 1}
            )
            return [StoredPath(doc["_id"], doc["path"], doc["bytes"]) for doc in cursor]

    def all_paths(self) -> dict[str, StoredPath]:
        with self._db.errors():
            cursor = self._files.find({}, {"path": 1, "bytes": 1})
            return {
                doc["path"]: StoredPath(doc["_id"], doc["path"], doc["bytes"]) for doc in cursor
            }

    def count(self) -> int:
        with self._db.errors():
            return self._files.count_documents({})


class MongoDailyCounterRepository(DailyCounterRepository):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._daily = db.collection(DAILY)
        db.ensure("storage", SCHEMA_VERSION, _setup)

    # --- moving data between backends (core.db.records) ----------------------------------

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)

    def reserve(self, user_id: str, day: str, limit: int) -> int | None:
        if limit <= 0:
            return None
        guard = {"user_id": user_id, "day": day, "used": {"$lt": limit}}
        with self._db.errors():
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
        with self._db.errors():
            result = self._daily.update_one(
                {"user_id": user_id, "day": day, "used": {"$gt": 0}}, {"$inc": {"used": -1}}
            )
        return result.modified_count == 1

    def used(self, user_id: str, day: str) -> int:
        with self._db.errors():
            doc = self._daily.find_one({"user_id": user_id, "day": day})
        return int(doc["used"]) if doc else 0
