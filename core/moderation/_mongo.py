"""Per-guild bot settings on MongoDB: one document per guild, `_id` = the guild id."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo.database import Database

from core.db._mongo_records import MongoPortable
from core.db.codec import MONGO
from core.db.mongo import MongoDatabase
from core.moderation.repository import GuildSettingsRepository

SCHEMA_VERSION = 1
SETTINGS = "bot_guild_settings"


def _setup(db: Database) -> None:
    """Nothing to index: every read is by `_id`. The version records that the shape exists."""


class MongoGuildSettingsRepository(GuildSettingsRepository, MongoPortable):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._settings = db.table(SETTINGS)
        db.ensure("moderation", SCHEMA_VERSION, _setup)

    def get(self, guild_id: str) -> dict[str, Any]:
        doc = self._settings.find_one({"_id": guild_id})
        return {} if doc is None else dict(doc.get("settings") or {})

    def put(self, guild_id: str, values: Mapping[str, Any], now: datetime) -> None:
        if values:
            self._settings.replace_one(
                {"_id": guild_id},
                {"settings": dict(values), "updated_at": MONGO.time(now)},
                upsert=True,
            )
        else:
            self._settings.delete_one({"_id": guild_id})
