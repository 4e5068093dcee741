"""XP on MongoDB: one document per (scope, user), `_id` = `scoped_id(scope, user)`.

Every change is one `find_one_and_update`. A correction is a pipeline update that records
the old total and clamps the new one to [0, 2^63-1] on the server. A message grant puts the
cooldown in the filter and upserts: when the user is on cooldown the filter misses, the upsert
tries to insert an `_id` that exists, and the server refuses it (DuplicateKeyError) — that
refusal is the "no" of the cooldown, decided atomically by the server.
Times are native dates, except `last_grant_at` and a mark's `changed_at`: epoch seconds, as
the cooldown filter and the mark's guarded delete compare them (on SQLite too).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bson.int64 import Int64
from pymongo import DESCENDING, ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.db._mongo_records import MongoPortable
from core.db.codec import MONGO
from core.db.mongo import MongoDatabase, scoped_id
from core.economy.levels import MAX_INT64
from core.economy.repository import PendingLevel, XpRepository
from core.scope import Scope

SCHEMA_VERSION = 3  # 3: message grants' updated_at as dates, like every other write
XP = "xp"
SETTINGS = "xp_settings"
PENDING = "xp_level_pending"
_MAX = Int64(MAX_INT64)


def _setup(db: Database) -> None:
    db[XP].create_index(
        [("scope", 1), ("xp", DESCENDING), ("user_id", 1)], name="scope_xp_desc_user"
    )
    db[PENDING].create_index([("scope", 1), ("changed_at", 1)], name="scope_changed_at")
    # Message grants wrote updated_at as epoch seconds before version 3: make them dates.
    stale = db[XP].find({"updated_at": {"$type": "number"}}, {"updated_at": 1})
    fixes = [
        UpdateOne(
            {"_id": doc["_id"], "updated_at": doc["updated_at"]},
            {"$set": {"updated_at": datetime.fromtimestamp(doc["updated_at"], UTC)}},
        )
        for doc in stale
    ]
    for start in range(0, len(fixes), 2_000):
        db[XP].bulk_write(fixes[start : start + 2_000], ordered=False)


def _equal(value: int) -> dict[str, Int64]:
    # A closed range rather than plain equality: mongoeco compares int32 and int64 by type
    # for equality (MongoDB compares numbers by value); a range matches on both.
    return {"$gte": Int64(value), "$lte": Int64(value)}


class MongoXpRepository(XpRepository, MongoPortable):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._xp = db.table(XP)
        self._settings = db.table(SETTINGS)
        self._pending = db.table(PENDING)
        db.ensure("xp", SCHEMA_VERSION, _setup)

    def get(self, user_id: str, scope: Scope) -> int | None:
        doc = self._xp.find_one({"_id": scoped_id(scope.key, user_id)}, {"xp": 1})
        return None if doc is None else int(doc["xp"])

    @staticmethod
    def _clamped(delta: int, **extra: Any) -> list[dict[str, Any]]:  # noqa: ANN401 - fields
        # An update pipeline: the server computes the new total from the old one, clamped to
        # [0, 2^63-1] without ever overflowing, and keeps the old one in prev_xp.
        old = {"$ifNull": ["$xp", Int64(0)]}
        new: dict[str, Any]
        if delta >= 0:
            new = {
                "$cond": [
                    {"$gt": [old, Int64(MAX_INT64 - delta)]},
                    _MAX,
                    {"$add": [old, Int64(delta)]},
                ]
            }
        else:
            new = {"$max": [Int64(0), {"$add": [old, Int64(delta)]}]}
        return [{"$set": {"prev_xp": old, "xp": new, **extra}}]

    def add(self, user_id: str, scope: Scope, delta: int, now: datetime) -> tuple[int, int]:
        pipeline = self._clamped(delta, scope=scope.key, user_id=user_id, updated_at=now)
        for attempt in range(2):
            try:
                doc = self._xp.find_one_and_update(
                    {"_id": scoped_id(scope.key, user_id)},
                    pipeline,
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                return int(doc["prev_xp"]), int(doc["xp"])
            except DuplicateKeyError:
                # Two first writes raced to insert; the second retries as an update.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def grant_if_cooled(
        self, user_id: str, scope: Scope, amount: int, now: float, cooldown: float
    ) -> tuple[int, int] | None:
        at = datetime.fromtimestamp(now, UTC)
        pipeline = self._clamped(
            amount, scope=scope.key, user_id=user_id, last_grant_at=now, updated_at=at
        )
        cooled = [{"last_grant_at": None}, {"last_grant_at": {"$lte": now - cooldown}}]
        try:
            doc = self._xp.find_one_and_update(
                {"_id": scoped_id(scope.key, user_id), "$or": cooled},
                pipeline,
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None  # on cooldown: the filter missed and the server refused the insert
        return int(doc["prev_xp"]), int(doc["xp"])

    def set_many(
        self, scope: Scope, rows: Sequence[tuple[str, int]], now: datetime, *, mode: str = "replace"
    ) -> int:
        if not rows:
            return 0
        # Per row: an upsert that only creates, then one guarded update carrying the mode's
        # rule in its filter and pipeline (never a read then a write).
        ops: list[UpdateOne] = []
        lone_upserts: set[int] = set()  # add mode, 0 XP: a created row no update counts
        for user_id, xp in rows:
            key = scoped_id(scope.key, user_id)
            initial = Int64(0) if mode == "add" else Int64(xp)
            ops.append(
                UpdateOne(
                    {"_id": key},
                    {"$setOnInsert": {"scope": scope.key, "user_id": user_id, "xp": initial,
                                      "prev_xp": Int64(0), "updated_at": now}},
                    upsert=True,
                )
            )  # fmt: skip
            total: dict[str, Any] | Int64
            if mode == "add":
                if xp == 0:
                    lone_upserts.add(len(ops) - 1)
                    continue
                total = {
                    "$cond": [
                        {"$gt": ["$xp", Int64(MAX_INT64 - xp)]},
                        _MAX,
                        {"$add": ["$xp", Int64(xp)]},
                    ]
                }
                guard: dict[str, Any] = {"_id": key, "xp": {"$lt": _MAX}}
            else:
                total = Int64(xp)
                guard = {"_id": key, "xp": {"$lt": Int64(xp)}}
                if mode == "replace":
                    guard = {"_id": key, "$or": [{"xp": {"$lt": Int64(xp)}},
                                                 {"xp": {"$gt": Int64(xp)}}]}  # fmt: skip
            ops.append(
                UpdateOne(guard, [{"$set": {"prev_xp": "$xp", "xp": total, "updated_at": now}}])
            )
        changed = 0
        for start in range(0, len(ops), 2_000):
            result = self._xp.bulk_write(ops[start : start + 2_000], ordered=True)
            changed += result.modified_count
            if mode == "add":
                # A row created at 0 is counted by the update that adds to it.
                upserted: dict[int, Any] = result.upserted_ids or {}
                changed += sum(1 for i in upserted if start + i in lone_upserts)
            else:
                changed += result.upserted_count
        return changed

    def top(self, scope: Scope, limit: int, offset: int = 0) -> list[tuple[str, int]]:
        cursor = (
            self._xp.find({"scope": scope.key}, {"user_id": 1, "xp": 1})
            .sort([("xp", DESCENDING), ("user_id", 1)])
            .skip(offset)
            .limit(limit)
        )
        return [(doc["user_id"], int(doc["xp"])) for doc in cursor]

    def rank(self, user_id: str, scope: Scope, xp: int) -> int:
        above = self._xp.count_documents({"scope": scope.key, "xp": {"$gt": Int64(xp)}})
        tied = self._xp.count_documents(
            {"scope": scope.key, "xp": _equal(xp), "user_id": {"$lt": user_id}}
        )
        return 1 + int(above) + int(tied)

    def count(self, scope: Scope) -> int:
        return int(self._xp.count_documents({"scope": scope.key}))

    # --- level changes the bot reconciles roles for -------------------------------------

    def atomic(self) -> contextlib.AbstractContextManager[object]:
        # No multi-document transaction on a standalone server: the XP change and its mark
        # are two single-document writes, the mark right after the change.
        return contextlib.nullcontext()

    def add_many(
        self, scope: Scope, user_ids: Sequence[str], amount: int, now: datetime
    ) -> list[tuple[str, int, int]]:
        if not user_ids:
            return []
        # One bulk write; each update keeps the total before *this* increment in batch_prev
        # (only this batched grant writes it), so (previous, new) stay exact even when a
        # message grant lands between the bulk write and the read below.
        old = {"$ifNull": ["$xp", Int64(0)]}
        total = {
            "$cond": [
                {"$gt": [old, Int64(MAX_INT64 - amount)]},
                _MAX,
                {"$add": [old, Int64(amount)]},
            ]
        }
        keys = {user_id: scoped_id(scope.key, user_id) for user_id in user_ids}
        ops = [
            UpdateOne(
                {"_id": keys[user_id]},
                [{"$set": {"batch_prev": old, "prev_xp": old, "xp": total, "scope": scope.key,
                           "user_id": user_id, "updated_at": now}}],
                upsert=True,
            )
            for user_id in user_ids
        ]  # fmt: skip
        self._xp.bulk_write(ops, ordered=False)
        docs = self._xp.find({"_id": {"$in": list(keys.values())}}, {"batch_prev": 1})
        before = {doc["_id"]: int(doc.get("batch_prev") or 0) for doc in docs}
        out = []
        for user_id in user_ids:
            previous = before.get(keys[user_id], 0)
            out.append((user_id, previous, min(previous + amount, MAX_INT64)))
        return out

    def mark_levels(self, scope: Scope, marks: Sequence[tuple[str, int, float]]) -> None:
        if not marks:
            return
        ops = [
            UpdateOne(
                {"_id": scoped_id(scope.key, user_id)},
                {"$set": {"scope": scope.key, "user_id": user_id, "level": level,
                          "changed_at": at}},
                upsert=True,
            )
            for user_id, level, at in marks
        ]  # fmt: skip
        self._pending.bulk_write(ops, ordered=False)

    def pending_levels(self, scopes: Sequence[Scope], limit: int) -> list[PendingLevel]:
        docs = (
            self._pending.find({"scope": {"$in": [scope.key for scope in scopes]}})
            .sort([("changed_at", 1)])
            .limit(limit)
        )
        return [
            PendingLevel(
                d["user_id"], Scope.from_key(d["scope"]), int(d["level"]), float(d["changed_at"])
            )
            for d in docs
        ]

    def clear_level(self, user_id: str, scope: Scope, changed_at: float) -> bool:
        result = self._pending.delete_one(
            {"_id": scoped_id(scope.key, user_id), "changed_at": changed_at}
        )
        return bool(result.deleted_count > 0)

    def get_settings(self, scope: Scope) -> dict[str, Any]:
        doc = self._settings.find_one({"_id": scope.key})
        return {} if doc is None else dict(doc.get("settings") or {})

    def set_settings(self, scope: Scope, values: Mapping[str, Any], now: datetime) -> None:
        self._settings.update_one(
            {"_id": scope.key},
            {"$set": {"settings": dict(values), "updated_at": MONGO.time(now)}},
            upsert=True,
        )

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def member_totals(self, user_id: str) -> list[tuple[str, int]]:
        docs = self._xp.find({"user_id": user_id}, {"scope": 1, "xp": 1}).sort("scope", 1)
        return [(doc["scope"], int(doc["xp"])) for doc in docs]

    def erase_member(self, user_id: str, scope: str) -> int:
        self._pending.delete_one({"_id": scoped_id(scope, user_id)})
        return int(self._xp.delete_one({"_id": scoped_id(scope, user_id)}).deleted_count)
