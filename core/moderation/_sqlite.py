"""Per-guild bot settings on SQLite: one JSON row per guild."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.db._sqlite_records import SqlitePortable
from core.db.codec import SQLITE, restamp
from core.db.sqlite import Migration, SqliteDatabase
from core.moderation.repository import GuildSettingsRepository

MIGRATIONS = (
    Migration(
        "moderation_0001_create",
        """
        CREATE TABLE bot_guild_settings (
            guild_id TEXT PRIMARY KEY,
            settings TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    ),
    # updated_at was isoformat() text of any width; now fixed-width UTC (core.db.codec).
    Migration("moderation_0002_utc_stamps", restamp("bot_guild_settings", "updated_at")),
)

_PUT = """
INSERT INTO bot_guild_settings (guild_id, settings, updated_at) VALUES (?, ?, ?)
ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at
"""


class SqliteGuildSettingsRepository(GuildSettingsRepository, SqlitePortable):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    def get(self, guild_id: str) -> dict[str, Any]:
        text = self._db.value(
            "SELECT settings FROM bot_guild_settings WHERE guild_id = ?", (guild_id,)
        )
        return {} if text is None else dict(json.loads(text))

    def put(self, guild_id: str, values: Mapping[str, Any], now: datetime) -> None:
        if values:
            self._db.run(_PUT, (guild_id, json.dumps(dict(values)), SQLITE.time(now)))
        else:
            self._db.run("DELETE FROM bot_guild_settings WHERE guild_id = ?", (guild_id,))
