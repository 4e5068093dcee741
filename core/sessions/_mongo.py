"""Sessions on MongoDB: a `sessions` document per session, a `session_messages` document per
message with `_id` = "<session id>:<zero-padded seq>" (unique, and sorted by seq).

An append takes its seqs with one guarded `find_one_and_update($inc)` on the session (only
while it is active and not idle), then inserts the messages; the `_id` makes (session, seq)
unique. Two processes appending at once get distinct seqs. A crash between the two steps can
leave a gap in the seqs, never a duplicate or a lost acknowledged message. A member's
questions per minute (`chat_turns`) are keyed by (scope, user): `_id` = scoped_id(...).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.db._mongo_records import MongoPortable
from core.db.codec import MONGO
from core.db.mongo import MongoDatabase, Translated, ascending, scoped_id
from core.scope import Scope
from core.security.rotation import EncryptedField, EncryptedRecord
from core.sessions.repository import (
    NewMessage,
    PurgeCounts,
    SessionRecord,
    SessionRepository,
    StoredMessage,
)

SCHEMA_VERSION = 3  # 2: the conversation lookup's index; 3: chat_turns `_id` = scoped_id
SESSIONS = "sessions"
MESSAGES = "session_messages"
TURNS = "chat_turns"
ENDED = {"$in": ["closed", "expired"]}


def _setup(db: Database) -> None:
    db[SESSIONS].create_index(ascending("status", "last_message_at"), name="status_last")
    db[SESSIONS].create_index(ascending("status", "closed_at"), name="status_closed")
    db[SESSIONS].create_index(ascending("user_id", "scope", "created_at"), name="user_scope")
    db[SESSIONS].create_index(ascending("summary_key_id"), name="summary_key", sparse=True)
    # `active`: one member's live session in one channel is an index seek.
    db[SESSIONS].create_index(
        ascending("user_id", "scope", "channel_id", "status", "last_message_at"), name="active"
    )
    # `_id` = "<session>:<seq:010d>" is unique and sorts by (session, seq): a session's
    # messages are an `_id` range, so no (session_id, seq) index (each extra index tripled
    # the write cost on mongoeco).
    db[MESSAGES].create_index(ascending("key_id", "_id"), name="key_id")
    _rekey_turns(db)


def _rekey_turns(db: Database) -> None:
    """Move `chat_turns` from `_id` "<scope>:<user>" to scoped_id(scope, user), keeping the
    count. Idempotent: a copy already there (a rerun, another process) wins."""
    turns = db[TURNS]
    for doc in list(turns.find({})):
        old_id = doc.pop("_id")
        if "/" in str(old_id):  # already scoped (ids never hold a '/')
            continue
        try:
            turns.insert_one({"_id": scoped_id(doc["scope"], doc["user_id"]), **doc})
        except DuplicateKeyError:
            pass
        turns.delete_one({"_id": old_id})


def _message_id(session_id: str, seq: int) -> str:
    return f"{session_id}:{seq:010d}"


def _of_session(session_id: str) -> dict[str, Any]:
    # Every message id of a session starts with "<session id>:"; ';' sorts right after ':'.
    return {"_id": {"$gte": f"{session_id}:", "$lt": f"{session_id};"}}


def _documents(
    session_id: str, first: int, messages: Sequence[NewMessage], now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "_id": _message_id(session_id, first + i),
            "session_id": session_id,
            "seq": first + i,
            "role": m.role,
            "content": m.token,
            "key_id": m.key_id,
            "at": now,
        }
        for i, m in enumerate(messages)
    ]


def _record(doc: dict[str, Any]) -> SessionRecord:
    return MONGO.decode(
        SessionRecord,
        {"closed_at": None, **doc},
        session_id=doc["_id"],
        has_summary=doc.get("summary") is not None,
    )


def _message(doc: dict[str, Any]) -> StoredMessage:
    return MONGO.decode(StoredMessage, doc, token=doc["content"])


_METADATA = {"summary": 0}


class MongoSessionRepository(SessionRepository, MongoPortable):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._sessions = db.table(SESSIONS)
        self._messages = db.table(MESSAGES)
        self._turns = db.table(TURNS)
        db.ensure("sessions", SCHEMA_VERSION, _setup)

    def create(
        self,
        session_id: str,
        user_id: str,
        scope: Scope,
        channel_id: str,
        now: datetime,
        messages: Sequence[NewMessage] = (),
    ) -> None:
        at = MONGO.time(now)
        # The session first: a crash before its messages leaves a gap in the seqs (as an
        # interrupted append does), never messages that no session owns.
        self._sessions.insert_one(
            {
                "_id": session_id,
                "user_id": user_id,
                "scope": scope.key,
                "channel_id": channel_id,
                "status": "active",
                "turns": len(messages),
                "created_at": at,
                "last_message_at": at,
                "closed_at": None,
                "summary": None,
                "summary_key_id": None,
            }
        )
        if messages:
            self._messages.insert_many(_documents(session_id, 1, messages, at), ordered=True)

    def take_turn(self, user_id: str, scope: Scope, minute: str, limit: int) -> int | None:
        if limit <= 0:
            return None
        key = scoped_id(scope.key, user_id)
        # Within the same minute: count one more while under the limit.
        doc = self._turns.find_one_and_update(
            {"_id": key, "minute": minute, "used": {"$lt": limit}},
            {"$inc": {"used": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return int(doc["used"])
        # A new minute (or a first question): start the count, unless this minute's document
        # exists, i.e. its limit is reached (the upsert then hits the _id).
        try:
            self._turns.update_one(
                {"_id": key, "minute": {"$ne": minute}},
                {"$set": {"minute": minute, "used": 1, "user_id": user_id, "scope": scope.key}},
                upsert=True,
            )
        except DuplicateKeyError:
            return None
        return 1

    def active(
        self, user_id: str, scope: Scope, channel_id: str, idle_cutoff: datetime, history: int
    ) -> tuple[SessionRecord, list[StoredMessage]] | None:
        query = {
            "user_id": user_id,
            "scope": scope.key,
            "channel_id": channel_id,
            "status": "active",
            "last_message_at": {"$gt": MONGO.time(idle_cutoff)},
        }
        doc = self._sessions.find_one(query, projection=_METADATA, sort=[("last_message_at", -1)])
        if doc is None:
            return None
        record = _record(doc)
        if history <= 0 or record.turns == 0:
            return record, []
        first = max(1, record.turns - history + 1)
        since = {"$gte": _message_id(record.session_id, first), "$lt": f"{record.session_id};"}
        return record, [_message(d) for d in self._messages.find({"_id": since}).sort("_id", 1)]

    def get(self, session_id: str) -> SessionRecord | None:
        doc = self._sessions.find_one({"_id": session_id})
        return None if doc is None else _record(doc)

    def append(
        self, session_id: str, messages: Sequence[NewMessage], now: datetime, idle_cutoff: datetime
    ) -> int | None:
        at = MONGO.time(now)
        doc = self._sessions.find_one_and_update(
            {
                "_id": session_id,
                "status": "active",
                "last_message_at": {"$gt": MONGO.time(idle_cutoff)},
            },
            {"$inc": {"turns": len(messages)}, "$max": {"last_message_at": at}},
            projection={"turns": 1},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        last = int(doc["turns"])
        first = last - len(messages) + 1
        self._messages.insert_many(_documents(session_id, first, messages, at), ordered=True)
        return last

    def close(self, session_id: str, summary: NewMessage | None, now: datetime) -> bool:
        result = self._sessions.update_one(
            {"_id": session_id, "status": {"$ne": "closed"}},
            {
                "$set": {
                    "status": "closed",
                    "closed_at": MONGO.time(now),
                    "summary": summary.token if summary else None,
                    "summary_key_id": summary.key_id if summary else None,
                }
            },
        )
        return bool(result.modified_count == 1)

    def expire_idle(
        self, idle_cutoff: datetime, now: datetime, session_id: str | None = None
    ) -> int:
        query: dict[str, Any] = {
            "status": "active",
            "last_message_at": {"$lte": MONGO.time(idle_cutoff)},
        }
        if session_id is not None:
            query["_id"] = session_id
        result = self._sessions.update_many(
            query, {"$set": {"status": "expired", "closed_at": MONGO.time(now)}}
        )
        return int(result.modified_count)

    def messages(self, session_id: str) -> list[StoredMessage]:
        return [_message(d) for d in self._messages.find(_of_session(session_id)).sort("_id", 1)]

    def summary(self, session_id: str) -> tuple[str, str] | None:
        doc = self._sessions.find_one({"_id": session_id})
        if doc is None or doc.get("summary") is None:
            return None
        return doc["summary"], doc["summary_key_id"]

    def list(
        self, *, user_id: str | None, scope: Scope, status: str | None, limit: int
    ) -> list[SessionRecord]:
        key = None if scope.is_every else scope.key
        query = {
            name: value
            for name, value in (("user_id", user_id), ("scope", key), ("status", status))
            if value is not None
        }
        docs = self._sessions.find(query).sort([("created_at", -1), ("_id", 1)]).limit(limit)
        return [_record(d) for d in docs]

    def purge(self, ended_before: datetime, *, dry_run: bool, batch_size: int) -> PurgeCounts:
        match = {"status": ENDED, "closed_at": {"$lt": MONGO.time(ended_before)}}
        if dry_run:
            ids = [d["_id"] for d in self._sessions.find(match, {"_id": 1})]
            messages = sum(self._messages.count_documents(_of_session(i)) for i in ids)
            return PurgeCounts(len(ids), messages)
        sessions = messages = 0
        while True:
            ids = [d["_id"] for d in self._sessions.find(match, {"_id": 1}).limit(batch_size)]
            if not ids:
                break
            for session_id in ids:
                messages += self._messages.delete_many(_of_session(session_id)).deleted_count
            sessions += self._sessions.delete_many({"_id": {"$in": ids}, **match}).deleted_count
        return PurgeCounts(sessions, messages)

    def encrypted_fields(self) -> builtins.list[EncryptedField]:
        return [
            _MongoField(self._db, MESSAGES, "content", "key_id"),
            _MongoField(self._db, SESSIONS, "summary", "summary_key_id"),
        ]

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def erase_member(self, user_id: str, scope: Scope) -> tuple[int, int]:
        match = {"user_id": user_id, "scope": scope.key}
        sessions = messages = 0
        for doc in list(self._sessions.find(match, {"_id": 1})):
            messages += self._messages.delete_many(_of_session(doc["_id"])).deleted_count
            sessions += self._sessions.delete_one({"_id": doc["_id"]}).deleted_count
        self._turns.delete_one({"_id": scoped_id(scope.key, user_id)})
        return sessions, messages


class _MongoField(EncryptedField):
    def __init__(self, db: MongoDatabase, collection: str, field: str, key_field: str) -> None:
        self._collection: Translated = db.table(collection)
        self._field = field
        self._key_field = key_field
        self.name = f"{collection}.{field}"

    def count_by_key(self) -> dict[str, int]:
        rows = self._collection.aggregate(
            [
                {"$match": {self._key_field: {"$type": "string"}}},
                {"$group": {"_id": f"${self._key_field}", "n": {"$sum": 1}}},
            ]
        )
        return {r["_id"]: r["n"] for r in rows}

    def scan(self, key_id: str, after: Any, limit: int) -> list[EncryptedRecord]:  # noqa: ANN401 - see EncryptedField
        query: dict[str, Any] = {self._key_field: key_id}
        if after is not None:
            query["_id"] = {"$gt": after}
        docs = self._collection.find(query, {self._field: 1}).sort("_id", 1).limit(limit)
        return [EncryptedRecord(d["_id"], key_id, d[self._field]) for d in docs]

    def replace(self, updates: Sequence[tuple[EncryptedRecord, str, str]]) -> int:
        operations = [
            UpdateOne(
                {"_id": r.ref, self._key_field: r.key_id},
                {"$set": {self._field: token, self._key_field: new_id}},
            )
            for r, new_id, token in updates
        ]
        return int(self._collection.bulk_write(operations, ordered=False).modified_count)
