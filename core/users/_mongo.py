"""Users on MongoDB: one document per (user, scope), `_id` derived from both."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.db._mongo_records import export_tables, import_tables
from core.db.mongo import MongoDatabase, ascending
from core.db.records import ImportReport, Records, RecordStream
from core.ids import guild_of
from core.users.repository import UserProfile, UserRepository

SCHEMA_VERSION = 1
COLLECTION = "users"
EXPORTS = "privacy_exports"  # one document per member, `_id` the user id


def _setup(db: Database) -> None:
    db[COLLECTION].create_index(ascending("user_id", "scope"), unique=True, name="user_scope")


class MongoUserRepository(UserRepository):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._users = db.collection(COLLECTION)
        self._exports = db.collection(EXPORTS)
        db.ensure("users", SCHEMA_VERSION, _setup)

    # --- moving data between backends (core.db.records) ----------------------------------

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)

    def upsert(
        self, user_id: str, scope: str, username: str, discriminator: str | None, now: datetime
    ) -> None:
        with self._db.errors():
            # The bot refreshes a profile on every message: an unchanged name keeps the
            # document as it is (a no-op update), so updated_at says when it last changed.
            # Names are $literal: a member called "$username" is text, not a field path.
            same = {
                "$and": [
                    {"$eq": ["$username", {"$literal": username}]},
                    {"$eq": ["$discriminator", {"$literal": discriminator}]},
                ]
            }
            self._users.update_one(
                {"user_id": user_id, "scope": scope},
                [
                    {
                        "$set": {
                            "username": {"$literal": username},
                            "discriminator": {"$literal": discriminator},
                            "updated_at": {"$cond": [same, "$updated_at", now]},
                            "created_at": {"$ifNull": ["$created_at", now]},
                        }
                    }
                ],
                upsert=True,
            )

    def create(self, user_id: str, scope: str, username: str, now: datetime) -> bool:
        with self._db.errors():
            # $setOnInsert on an upsert: an existing profile matches and nothing is written;
            # the unique (user_id, scope) index makes two racing creates one document.
            try:
                result = self._users.update_one(
                    {"user_id": user_id, "scope": scope},
                    {
                        "$setOnInsert": {
                            "username": username,
                            "discriminator": None,
                            "created_at": now,
                            "updated_at": now,
                        }
                    },
                    upsert=True,
                )
            except DuplicateKeyError:  # the other create won the race: the profile exists
                return False
        return result.upserted_id is not None

    def get(self, user_id: str, scope: str) -> UserProfile | None:
        with self._db.errors():
            doc = self._users.find_one({"user_id": user_id, "scope": scope})
        if doc is None:
            return None
        return self._profile(doc)

    def update(self, user_id: str, scope: str, fields: Mapping[str, Any], now: datetime) -> bool:
        with self._db.errors():
            result = self._users.update_one(
                {"user_id": user_id, "scope": scope},
                {"$set": {**fields, "updated_at": now}},
            )
        return result.matched_count == 1

    def count(self) -> int:
        with self._db.errors():
            return self._users.count_documents({})

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def member_profiles(self, user_id: str) -> list[UserProfile]:
        with self._db.errors():
            docs = list(self._users.find({"user_id": user_id}, {"_id": 0}).sort("scope", 1))
        return [self._profile(doc) for doc in docs]

    @staticmethod
    def _profile(doc: dict[str, Any]) -> UserProfile:
        return UserProfile(
            user_id=doc["user_id"],
            guild_id=guild_of(doc["scope"]),
            username=doc["username"],
            discriminator=doc.get("discriminator"),
            display_name=doc.get("display_name"),
            bio=doc.get("bio"),
            timezone=doc.get("timezone"),
            locale=doc.get("locale"),
            pronouns=doc.get("pronouns"),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )

    def erase_member(self, user_id: str, scope: str) -> int:
        with self._db.errors():
            return self._users.delete_one({"user_id": user_id, "scope": scope}).deleted_count

    def claim_export(self, user_id: str, now: float, not_before: float) -> float | None:
        with self._db.errors():
            try:
                # Outside the window the filter matches and the time moves; inside it the
                # upsert collides with the member's document on `_id`: nothing is written.
                self._exports.update_one(
                    {"_id": user_id, "at": {"$lte": not_before}},
                    {"$set": {"at": now}},
                    upsert=True,
                )
                return None
            except DuplicateKeyError:
                doc = self._exports.find_one({"_id": user_id})
        return now if doc is None else float(doc["at"])

    def drop_export(self, user_id: str, at: float | None = None) -> int:
        query: dict[str, Any] = {"_id": user_id}
        if at is not None:
            query["at"] = at
        with self._db.errors():
            return self._exports.delete_one(query).deleted_count
