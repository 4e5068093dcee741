"""Storage: the file record, usage figures, and the repository interfaces both backends implement.

A file record is written only after its file has been renamed into place, and deleted before
its file is unlinked, so usage (summed from records) never counts a half-written file.
The daily generation counter is one row per (user, UTC day), changed only by guarded
single-statement updates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.db.records import Field, Portable, Table
from core.scope import Scope

# The running-total key for the whole store; no user id can equal it (core.ids forbids '*').
GLOBAL_OWNER = "*"


@dataclass(frozen=True)
class FileRecord:
    file_id: str
    user_id: str
    guild_id: str | None
    path: str  # relative to the storage root, POSIX separators
    bytes: int
    sha256: str
    content_type: str
    kept: bool
    created_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """Bytes and file count of one owner (a user, or GLOBAL_OWNER)."""

    owner: str
    bytes: int
    files: int


@dataclass(frozen=True)
class StoredPath:
    """What cleanup needs to know about a record: its id, where it lives, how big it is."""

    file_id: str
    path: str
    bytes: int


class FileRepository(Portable, ABC):
    """File records keyed by file id; a record's scope is its `guild_id` (None = global)."""

    # The per-owner usage totals are derived (SQLite keeps them by trigger), so not copied.
    TABLES = (
        Table(
            "storage_files",
            key=("file_id",),
            fields=(
                *(Field(name) for name in ("file_id", "user_id", "scope", "path")),
                Field("bytes", "int"),
                Field("sha256"),
                Field("content_type"),
                Field("kept", "bool"),
                Field("created_at", "time"),
                Field("metadata", "json"),
            ),
            id_field="file_id",
        ),
    )

    @abstractmethod
    def insert(self, record: FileRecord) -> None:
        """Add one record; the usage totals move with it in the same operation."""

    @abstractmethod
    def get(self, file_id: str) -> FileRecord | None: ...

    @abstractmethod
    def find_by_path(self, path: str) -> FileRecord | None: ...

    @abstractmethod
    def list_for_user(self, user_id: str, scope: Scope, limit: int) -> list[FileRecord]:
        """Newest first, in one scope or (Scope.EVERY) every scope of the user."""

    @abstractmethod
    def delete(self, file_id: str) -> FileRecord | None:
        """Remove one record and return it (None when it was not there)."""

    @abstractmethod
    def delete_owned(self, file_id: str, user_id: str) -> FileRecord | None:
        """Remove one record only if `user_id` owns it (the owner is in the statement's
        guard); return it, or None when that user has no such file."""

    @abstractmethod
    def set_kept(self, file_id: str, user_id: str, kept: bool) -> FileRecord | None:
        """Move one of a user's files to kept (or back to temporary) retention: one guarded
        update with the owner in its filter. Returns the record after the change, or None
        when that user has no such file."""

    @abstractmethod
    def kept_for_user(
        self, user_id: str, scope: Scope, offset: int, limit: int
    ) -> list[FileRecord]:
        """A user's kept files, newest first, `limit` of them after skipping `offset`, in one
        scope or (Scope.EVERY) every scope of the user."""

    @abstractmethod
    def delete_many(self, file_ids: Sequence[str]) -> int: ...

    @abstractmethod
    def usage(self, owner: str) -> Usage:
        """Bytes and files of a user id, or of everything for GLOBAL_OWNER."""

    @abstractmethod
    def top_users(self, limit: int) -> list[Usage]: ...

    @abstractmethod
    def expired(self, kept: bool, before: datetime) -> list[StoredPath]:
        """Records of that kind created strictly before `before`."""

    @abstractmethod
    def all_paths(self) -> dict[str, StoredPath]:
        """Every record by relative path (for orphan detection in cleanup)."""

    @abstractmethod
    def count(self) -> int: ...


class DailyCounterRepository(Portable, ABC):
    """Generations used per (user, UTC day) across every guild."""

    TABLES = (
        Table(
            "quota_daily",
            key=("user_id", "day"),
            fields=(Field("user_id"), Field("day"), Field("used", "int")),
        ),
    )

    @abstractmethod
    def reserve(self, user_id: str, day: str, limit: int) -> int | None:
        """Add one use if fewer than `limit` are used; return the new count, or None if full.

        One atomic operation: the limit is inside the update's guard.
        """

    @abstractmethod
    def release(self, user_id: str, day: str) -> bool:
        """Give one use back (never below zero); True when one was returned."""

    @abstractmethod
    def used(self, user_id: str, day: str) -> int: ...
