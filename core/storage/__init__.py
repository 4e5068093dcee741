"""Storage and quotas: generated files under a safe root with one record each, usage from
the records, and the daily generation quota kept in the database."""

from __future__ import annotations

from core.storage.cleanup import CleanupReport
from core.storage.files import DeletedFile, StorageManager, StorageUsage
from core.storage.quota import QuotaManager, QuotaStatus, Reservation
from core.storage.repository import FileRecord, Usage

__all__ = [
    "CleanupReport",
    "DeletedFile",
    "FileRecord",
    "QuotaManager",
    "QuotaStatus",
    "Reservation",
    "StorageManager",
    "StorageUsage",
    "Usage",
    "get_quota_manager",
    "get_storage_manager",
]


def get_storage_manager() -> StorageManager:
    """The current context's StorageManager (the seed's `StorageManager` instance)."""
    from core.context import current

    return current().storage


def get_quota_manager() -> QuotaManager:
    """The current context's QuotaManager."""
    from core.context import current

    return current().quota
