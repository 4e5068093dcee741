"""Per-guild bot settings (admin and moderator role ids) and the repository both backends
implement: one small document of overrides per guild, replaced as a whole."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.db.records import Field, Portable, Table


class GuildSettingsRepository(Portable, ABC):
    TABLES = (
        Table(
            "bot_guild_settings",
            key=("guild_id",),
            fields=(Field("guild_id"), Field("settings", "json"), Field("updated_at", "time")),
            id_field="guild_id",
        ),
    )

    @abstractmethod
    def get(self, guild_id: str) -> dict[str, Any]:
        """The stored overrides of a guild ({} when none)."""

    @abstractmethod
    def put(self, guild_id: str, values: Mapping[str, Any], now: datetime) -> None:
        """Replace the stored overrides of a guild (an empty mapping removes them)."""
