"""Sessions on MongoDB: a `sessions` document per session, a `session_messages` document per
message with `_id` = "<session id>:<zero-padded seq>" (unique, and sorted by seq).

An append takes its seqs with one guarded `find_one_and_update($inc)` on the session (only
while it is active and not idle), then inserts the messages; the `_id` makes (session, seq)
unique. Two processes appending at once get distinct seqs. A crash between the two steps can
leave a gap in the seqs, never a duplicate or a lost acknowledged message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.db._mongo_records import export_tables, import_tables
from core.db.mongo import MongoDatabase, ascending
from core.db.records import ImportReport, Records, RecordStream
from core.ids import guild_of
from core.security.rotation import EncryptedField, EncryptedRecord
from core.sessions.repository import (
    NewMessage,
    PurgeCounts,
    SessionRecord,
    SessionRepository,
    StoredMessage,
)

SCHEMA_VERSION = 2  # 2: the conversation lookup's index
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
    return SessionRecord(
        session_id=doc["_id"],
        user_id=doc["user_id"],
        guild_id=guild_of(doc["scope"]),
        channel_id=doc["channel_id"],
        status=doc["status"],
        turns=doc["turns"],
        created_at=doc["created_at"],
        last_message_at=doc["last_message_at"],
        closed_at=doc.get("closed_at"),
        has_summary=doc.get("summary") is not None,
    )


_METADATA = {"summary": 0}


class MongoSessionRepository(SessionRepository):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._sessions = db.collection(SESSIONS)
        self._messages = db.collection(MESSAGES)
        self._turns = db.collection(TURNS)
        db.ensure("sessions", SCHEMA_VERSION, _setup)

    # --- moving data between backends (core.db.records) ----------------------------------

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)

    def create(
        self,
        session_id: str,
        user_id: str,
        scope: str,
        channel_id: str,
        now: datetime,
        messages: Sequence[NewMessage] = (),
    ) -> None:
        with self._db.errors():
            # The session first: a crash before its messages leaves a gap in the seqs (as
            # an interrupted append does), never messages that no session owns.
            self._sessions.insert_one(
                {
                    "_id": session_id,
                    "user_id": user_id,
                    "scope": scope,
                    "channel_id": channel_id,
                    "status": "active",
                    "turns": len(messages),
                    "created_at": now,
                    "last_message_at": now,
                    "closed_at": None,
                    "summary": None,
                    "summary_key_id": None,
                }
            )
            if messages:
                self._messages.insert_many(_documents(session_id, 1, messages, now), ordered=True)

    def take_turn(self, user_id: str, scope: str, minute: str, limit: int) -> int | None:
        if limit <= 0:
            return None
        key = f"{scope}:{user_id}"
        with self._db.errors():
            # Within the same minute: count one more while under the limit.
            doc = self._turns.find_one_and_update(
                {"_id": key, "minute": minute, "used": {"$lt": limit}},
                {"$inc": {"used": 1}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return int(doc["used"])
            # A new minute (or a first question): start the count, unless this minute's
            # document exists, i.e. its limit is reached (the upsert then hits the _id).
            try:
                self._turns.update_one(
                    {"_id": key, "minute": {"$ne": minute}},
                    {"$set": {"minute": minute, "used": 1, "user_id": user_id, "scope": scope}},
                    upsert=True,
                )
            except DuplicateKeyError:
                return None
        return 1

    def active(
        self, user_id: str, scope: str, channel_id: str, idle_cutoff: datetime, history: int
    ) -> tuple[SessionRecord, list[StoredMessage]] | None:
        query = {
            "user_id": user_id,
            "scope": scope,
            "channel_id": channel_id,
            "status": "active",
            "last_message_at": {"$gt": idle_cutoff},
        }
        with self._db.errors():
            doc = self._sessions.find_one(
                query, projection=_METADATA, sort=[("last_message_at", -1)]
            )
            if doc is None:
                return None
            record = _record(doc)
            if history <= 0 or record.turns == 0:
                return record, []
            first = max(1, record.turns - history + 1)
            since = {"$gte": _message_id(record.session_id, first), "$lt": f"{record.session_id};"}
            docs = self._messages.find({"_id": since}).sort("_id", 1)
            return record, [
                StoredMessage(d["seq"], d["role"], d["content"], d["key_id"], d["at"]) for d in docs
            ]

    def get(self, session_id: str) -> SessionRecord | None:
        with self._db.errors():
            doc = self._sessions.find_one({"_id": session_id})
        return None if doc is None else _record(doc)

    def append(
        self, session_id: str, messages: Sequence[NewMessage], now: datetime, idle_cutoff: datetime
    ) -> int | None:
        with self._db.errors():
            doc = self._sessions.find_one_and_update(
                {"_id": session_id, "status": "active", "last_message_at": {"$gt": idle_cutoff}},
                {"$inc": {"turns": len(messages)}, "$max": {"last_message_at": now}},
                projection={"turns": 1},
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                return None
            last = int(doc["turns"])
            first = last - len(messages) + 1
            self._messages.insert_many(_documents(session_id, first, messages, now), ordered=True)
        return last

    def close(self, session_id: str, summary: NewMessage | None, now: datetime) -> bool:
        with self._db.errors():
            result = self._sessions.update_one(
                {"_id": session_id, "status": {"$ne": "closed"}},
                {
                    "$set": {
                        "status": "closed",
                        "closed_at": now,
                        "summary": summary.token if summary else None,
                        "summary_key_id": summary.key_id if summary else None,
                    }
                },
            )
        return result.modified_count == 1

    def expire_idle(
        self, idle_cutoff: datetime, now: datetime, session_id: str | None = None
    ) -> int:
        query: dict[str, Any] = {"status": "active", "last_message_at": {"$lte": idle_cutoff}}
        if session_id is not None:
            query["_id"] = session_id
        with self._db.errors():
            result = self._sessions.update_many(
                query, {"$set": {"status": "expired", "closed_at": now}}
            )
        return result.modified_count

    def messages(self, session_id: str) -> list[StoredMessage]:
        with self._db.errors():
            docs = self._messages.find(_of_session(session_id)).sort("_id", 1)
            return [
                StoredMessage(d["seq"], d["role"], d["content"], d["key_id"], d["at"]) for d in docs
            ]

    def summary(self, session_id: str) -> tuple[str, str] | None:
        with self._db.errors():
            doc = self._sessions.find_one({"_id": session_id})
        if doc is None or doc.get("summary") is None:
            return None
        return doc["summary"], doc["summary_key_id"]

    def list(
        self, *, user_id: str | None, scope: str | None, status: str | None, limit: int
    ) -> list[SessionRecord]:
        query = {
            name: value
            for name, value in (("user_id", user_id), ("scope", scope), ("status", status))
            if value is not None
        }
        with self._db.errors():
            docs = self._sessions.find(query).sort([("created_at", -1), ("_id", 1)]).limit(limit)
            return [_record(d) for d in docs]

    def purge(self, ended_before: datetime, *, dry_run: bool, batch_size: int) -> PurgeCounts:
        match = {"status": ENDED, "closed_at": {"$lt": ended_before}}
        with self._db.errors():
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

    def encrypted_fields(self) -> list[EncryptedField]:
        return [
            _MongoField(self._db, MESSAGES, "content", "key_id"),
            _MongoField(self._db, SESSIONS, "summary", "summary_key_id"),
        ]

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def erase_member(self, user_id: str, scope: str) -> tuple[int, int]:
        match = {"user_id": user_id, "scope": scope}
        sessions = messages = 0
        with self._db.errors():
            for doc in list(self._sessions.find(match, {"_id": 1})):
                messages += self._messages.delete_many(_of_session(doc["_id"])).deleted_count
                sessions += self._sessions.delete_one({"_id": doc["_id"]}).deleted_count
            self._turns.delete_one({"_id": f"{scope}:{user_id}"})
        return sessions, messages


class _MongoField(EncryptedField):
    def __init__(self, db: MongoDatabase, collection: str, field: str, key_field: str) -> None:
        self._db = db
        self._collection = db.collection(collection)
        self._field = field
        self._key_field = key_field
        self.name = f"{collection}.{field}"

    def count_by_key(self) -> dict[str, int]:
        with self._db.errors():
            rows = self._collection.aggregate(
                [
                    {"$match": {self._key_field: {"$type": "string"}}},
                    {"$group": {"_id": f"${self._key_field}", "n": {"$sum": 1}}},
                ]
            )
            return {r["_id"]: r["n"] for r in rows}

    def scan(self, key_id: str, after: Any, limit: int) -> list[EncryptedRecord]:
        query: dict[str, Any] = {self._key_field: key_id}
        if after is not None:
            query["_id"] = {"$gt": after}
        with self._db.errors():
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
        with self._db.errors():
            return self._collection.bulk_write(operations, ordered=False).modified_count
