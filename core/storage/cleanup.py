"""Cleanup: retention by kind, and orphans on both sides, without taking a write in flight.

Records are read before the directory walk. A file is renamed into place before its record
is inserted, so every record read here had its file on disk already: a file the walk then
misses is really gone (an orphan record). A file the walk finds without a record may be a
save between rename and insert, so it counts as an orphan only past a grace period; `.tmp-*`
files, which are writes in progress, only past an hour.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from core.config import StorageSettings
from core.paths import TEMP_PREFIX, is_within
from core.storage.repository import FileRepository

# An in-flight temp file is never older than this; one that is was left by a crash.
TEMP_GRACE_SECONDS = 3600
Progress = Callable[[int, int | None, str | None], None]


@dataclass(frozen=True)
class CleanupReport:
    files_deleted: int  # expired by retention
    bytes_freed: int
    orphans_removed: int  # files without a record + records without a file + stale temp files
    dry_run: bool
    orphan_files: int
    orphan_records: int
    stale_temp_files: int


def _noop(n: int = 1, total: int | None = None, description: str | None = None) -> None:
    return None


def sweep(
    *,
    repo: FileRepository,
    root: Path,
    settings: StorageSettings,
    now: datetime,
    orphan_grace_seconds: float,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> CleanupReport:
    """Delete expired files, orphan files, stale temp files and records without a file.

    `root` must already be resolved (symlinks followed).
    """
    advance = progress or _noop
    now_ts = now.timestamp()
    expired = []
    if settings.temp_retention_days > 0:
        cutoff = now - timedelta(days=settings.temp_retention_days)
        expired += repo.expired(False, cutoff)
    if settings.kept_retention_days > 0:
        cutoff = now - timedelta(days=settings.kept_retention_days)
        expired += repo.expired(True, cutoff)
    expired_ids = {item.file_id for item in expired}
    # Records first, then the walk: every record read here had its file renamed into
    # place before it was inserted, so a file the walk misses is really missing.
    records = repo.all_paths()
    seen: set[str] = set()
    orphan_files: list[tuple[Path, int]] = []
    stale_temps: list[tuple[Path, int]] = []
    advance(0, len(records), "scanning storage")
    for path, stat in _walk_files(root):
        name = path.name
        age = now_ts - stat.st_mtime
        if name.startswith(TEMP_PREFIX):
            if age > TEMP_GRACE_SECONDS:
                stale_temps.append((path, stat.st_size))
            continue
        relative = path.relative_to(root).as_posix()
        if relative in records:
            seen.add(relative)
            if len(seen) % 1000 == 0:
                advance(1000, None, None)
        elif age > orphan_grace_seconds:
            orphan_files.append((path, stat.st_size))
    orphan_records = [
        item.file_id
        for rel, item in records.items()
        if rel not in seen and item.file_id not in expired_ids
    ]
    bytes_freed = sum(item.bytes for item in expired if item.path in seen)
    bytes_freed += sum(size for _, size in orphan_files) + sum(s for _, s in stale_temps)
    deleted = len(expired)
    if not dry_run:
        advance(0, None, "deleting")
        ids = [item.file_id for item in expired]
        deleted = repo.delete_many(ids)
        for item in expired:
            target = root / item.path
            # Records come from our own writes; still, never unlink outside the root.
            if item.path in seen and is_within(root, Path(os.path.realpath(target))):
                target.unlink(missing_ok=True)
        for target, _ in orphan_files + stale_temps:
            target.unlink(missing_ok=True)
        repo.delete_many(orphan_records)
    report = CleanupReport(
        files_deleted=deleted,
        bytes_freed=bytes_freed,
        orphans_removed=len(orphan_files) + len(orphan_records) + len(stale_temps),
        dry_run=dry_run,
        orphan_files=len(orphan_files),
        orphan_records=len(orphan_records),
        stale_temp_files=len(stale_temps),
    )
    return report


def _walk_files(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Regular files under root, symlinks neither followed nor returned."""
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                try:
                    yield Path(entry.path), entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
