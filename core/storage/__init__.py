"""Storage and quotas: generated files under a safe root with one record each, usage from
the records, and the daily generation quota kept in the database."""

from __future__ import annotations

from core.storage.files import CleanupReport, DeletedFile, StorageManager, StorageUsage
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
]
