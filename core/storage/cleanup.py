"""Cleanup: retention by kind, and orphans on both sides, without taking a write in flight.

Records are read before the directory walk. A file is renamed into place before its record
is inserted, so every record read here had its file on disk already: a file the walk then
misses is really gone (an orphan record). A file the walk finds without a record may be a
save between rename and insert, so it counts as an orphan only past a grace period; `.tmp-*`
files, which are writes in progress, only past an hour.

Only what storage itself writes is ever counted or deleted (``core.storage.layout``): files
named like a stored image, holding that kind of image, or named like its temp files, inside
``<user>/<YYYY-MM>/`` folders. Anything else under the root (an operator's file, a look-alike
at another depth, the data dir's own files when the root was misconfigured) is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from core.config import StorageSettings
from core.images.validation import sniff_image_type
from core.paths import is_within
from core.progress import Progress
from core.storage.layout import is_month_folder, is_temp_name, is_user_folder, stored_type
from core.storage.repository import FileRepository

# An in-flight temp file is never older than this; one that is was left by a crash.
TEMP_GRACE_SECONDS = 3600
# Report every this many files walked: a bar that moves without a call per file.
PROGRESS_EVERY = 500


@dataclass(frozen=True)
class CleanupReport:
    files_deleted: int  # expired by retention
    bytes_freed: int
    orphans_removed: int  # files without a record + records without a file + stale temp files
    dry_run: bool
    orphan_files: int
    orphan_records: int
    stale_temp_files: int


def _noop(done: int, total: int) -> None:
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
    # Files checked: every recorded one is walked once, orphans add to the total as found.
    walked = 0
    advance(0, len(records))
    for path, stat, is_temp in _walk_files(root):
        walked += 1
        if walked % PROGRESS_EVERY == 0:
            advance(walked, max(walked, len(records)))
        age = now_ts - stat.st_mtime
        if is_temp:
            if age > TEMP_GRACE_SECONDS:
                stale_temps.append((path, stat.st_size))
            continue
        relative = path.relative_to(root).as_posix()
        if relative in records:
            seen.add(relative)
        elif age > orphan_grace_seconds and _holds_stored_type(path):
            orphan_files.append((path, stat.st_size))
    # A record whose file the walk did not see is an orphan only if its file is really gone
    # (it may sit outside today's layout, written by an older version).
    orphan_records = [
        item.file_id
        for rel, item in records.items()
        if rel not in seen and item.file_id not in expired_ids and not os.path.lexists(root / rel)
    ]
    bytes_freed = sum(item.bytes for item in expired if item.path in seen)
    bytes_freed += sum(size for _, size in orphan_files) + sum(s for _, s in stale_temps)
    deleted = len(expired)
    checked = max(walked, len(records))
    # The work left is one unlink per file to delete: the same bar goes on counting files.
    total = checked if dry_run else checked + len(expired) + len(orphan_files) + len(stale_temps)
    advance(checked, total)
    if not dry_run:
        ids = [item.file_id for item in expired]
        deleted = repo.delete_many(ids)
        for done, item in enumerate(expired, checked + 1):
            if done % PROGRESS_EVERY == 0:
                advance(done, total)
            target = root / item.path
            # Records come from our own writes; still, never unlink outside the root.
            if item.path in seen and is_within(root, Path(os.path.realpath(target))):
                target.unlink(missing_ok=True)
        for target, _ in orphan_files + stale_temps:
            target.unlink(missing_ok=True)
        repo.delete_many(orphan_records)
        advance(total, total)
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


def _walk_files(root: Path) -> Iterator[tuple[Path, os.stat_result, bool]]:
    """(path, stat, is_temp) of the files storage may have written: recorded names, orphans
    and temp files inside ``<user>/<YYYY-MM>/`` folders. Symlinks are neither followed nor
    returned; other names and other depths are never looked at."""
    for user_dir in _subdirs(root, is_user_folder):
        for month_dir in _subdirs(user_dir, is_month_folder):
            for entry in _entries(month_dir):
                name = entry.name
                is_temp = is_temp_name(name)
                if not is_temp and stored_type(name) is None:
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    yield Path(entry.path), entry.stat(follow_symlinks=False), is_temp
                except FileNotFoundError:
                    continue


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _subdirs(directory: Path, accept: Callable[[str], bool]) -> Iterator[Path]:
    for entry in _entries(directory):
        if accept(entry.name) and entry.is_dir(follow_symlinks=False):
            yield Path(entry.path)


def _holds_stored_type(path: Path) -> bool:
    """True when the file starts like the image its name promises: a look-alike name over
    other content is not ours."""
    expected = stored_type(path.name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        head = os.read(fd, 16)
    finally:
        os.close(fd)
    return expected is not None and sniff_image_type(head) == expected
