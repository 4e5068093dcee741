"""Users on MongoDB: one document per (user, scope), `_id` = scoped_id(scope, user).

Schema 2 moved profiles from an ObjectId `_id` with a unique (user_id, scope) index to the
`"<scope>/<user>"` `_id` every scope-keyed record uses: one key, so an upsert by `_id` is
atomic without a second unique index.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from core.db._mongo_records import MongoPortable
from core.db.codec import MONGO
from core.db.mongo import MongoDatabase, ascending, scoped_id
from core.scope import Scope
from core.users.repository import UserProfile, UserRepository

SCHEMA_VERSION = 2  # 2: `_id` = scoped_id(scope, user), no unique (user_id, scope) index
COLLECTION = "users"
EXPORTS = "privacy_exports"  # one document per member, `_id` the user id
# Fields a profile document lacks until they are set (a created profile has only its name).
_UNSET = dict.fromkeys(("discriminator", "display_name", "bio", "timezone", "locale", "pronouns"))


def _setup(db: Database) -> None:
    users = db[COLLECTION]
    # The old unique index would refuse the copy under the new `_id` (same user and scope).
    try:
        users.drop_index("user_scope")
    except OperationFailure:
        pass  # already dropped (a rerun, or another process migrating at the same time)
    _rekey(users)
    users.create_index(ascending("user_id", "scope"), name="user_scope_lookup")


def _rekey(users: Any) -> None:  # noqa: ANN401 - a pymongo Collection
    """Move each profile with an ObjectId `_id` to its scoped `_id`, keeping every field.

    Idempotent and safe beside another process doing the same: the copy is inserted (a
    copy already there, from an interrupted run or the other process, wins: the data is
    the same or newer), then the old document is deleted. A crash between the two leaves
    both, and the rerun deletes the old one.
    """
    for doc in list(users.find({"_id": {"$type": "objectId"}})):
        old_id = doc.pop("_id")
        try:
            users.insert_one({"_id": scoped_id(doc["scope"], doc["user_id"]), **doc})
        except DuplicateKeyError:
            pass
        users.delete_one({"_id": old_id})


def _profile(doc: Mapping[str, Any]) -> UserProfile:
    return MONGO.decode(UserProfile, {**_UNSET, **doc})


class MongoUserRepository(UserRepository, MongoPortable):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._users = db.table(COLLECTION)
        self._exports = db.table(EXPORTS)
        db.ensure("users", SCHEMA_VERSION, _setup)

    def upsert(
        self, user_id: str, scope: Scope, username: str, discriminator: str | None, now: datetime
    ) -> None:
        # The bot refreshes a profile on every message: an unchanged name keeps the document
        # as it is (a no-op update), so updated_at says when it last changed. Names are
        # $literal: a member called "$username" is text, not a field path.
        same = {
            "$and": [
                {"$eq": ["$username", {"$literal": username}]},
                {"$eq": ["$discriminator", {"$literal": discriminator}]},
            ]
        }
        stamp = MONGO.time(now)
        self._users.update_one(
            {"_id": scoped_id(scope.key, user_id)},
            [
                {
                    "$set": {
                        "user_id": user_id,
                        "scope": scope.key,
                        "username": {"$literal": username},
                        "discriminator": {"$literal": discriminator},
                        "updated_at": {"$cond": [same, "$updated_at", stamp]},
                        "created_at": {"$ifNull": ["$created_at", stamp]},
                    }
                }
            ],
            upsert=True,
        )

    def create(self, user_id: str, scope: Scope, username: str, now: datetime) -> bool:
        # $setOnInsert on an upsert by `_id`: an existing profile matches and nothing is
        # written; two racing creates are one document (the loser's upsert hits the `_id`).
        stamp = MONGO.time(now)
        try:
            result = self._users.update_one(
                {"_id": scoped_id(scope.key, user_id)},
                {
                    "$setOnInsert": {
                        "user_id": user_id,
                        "scope": scope.key,
                        "username": username,
                        "discriminator": None,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:  # the other create won the race: the profile exists
            return False
        return result.upserted_id is not None

    def get(self, user_id: str, scope: Scope) -> UserProfile | None:
        doc = self._users.find_one({"_id": scoped_id(scope.key, user_id)})
        return None if doc is None else _profile(doc)

    def update(self, user_id: str, scope: Scope, fields: Mapping[str, Any], now: datetime) -> bool:
        result = self._users.update_one(
            {"_id": scoped_id(scope.key, user_id)},
            {"$set": {**fields, "updated_at": MONGO.time(now)}},
        )
        return bool(result.matched_count == 1)

    def count(self) -> int:
        return int(self._users.count_documents({}))

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def member_profiles(self, user_id: str) -> list[UserProfile]:
        docs = self._users.find({"user_id": user_id}, {"_id": 0}).sort("scope", 1)
        return [_profile(doc) for doc in docs]

    def erase_member(self, user_id: str, scope: Scope) -> int:
        return int(self._users.delete_one({"_id": scoped_id(scope.key, user_id)}).deleted_count)

    def claim_export(self, user_id: str, now: float, not_before: float) -> float | None:
        try:
            # Outside the window the filter matches and the time moves; inside it the upsert
            # collides with the member's document on `_id`: nothing is written.
            self._exports.update_one(
                {"_id": user_id, "at": {"$lte": not_before}}, {"$set": {"at": now}}, upsert=True
            )
            return None
        except DuplicateKeyError:
            doc = self._exports.find_one({"_id": user_id})
        return now if doc is None else float(doc["at"])

    def drop_export(self, user_id: str, at: float | None = None) -> int:
        query: dict[str, Any] = {"_id": user_id}
        if at is not None:
            query["at"] = at
        return int(self._exports.delete_one(query).deleted_count)
