"""Generated files: saved under per-user folders in the storage root, one record each.

A save writes the bytes through a temp file and a rename, then inserts the record; a delete
removes the record, then the file. Usage is always read from the records. Cleanup applies
retention and removes orphans without ever taking a file that is still being written: temp
files younger than an hour and unrecorded files younger than the grace period are left alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.clock import Clock
from core.config import StorageSettings
from core.errors import InvalidInput, UnknownFile, UnsafePath
from core.ids import check_id
from core.images.validation import sniff_image_type
from core.paths import atomic_write, contain, resolve_inside
from core.progress import Progress
from core.scope import Scope
from core.storage.cleanup import CleanupReport, sweep
from core.storage.layout import relative_path
from core.storage.repository import GLOBAL_OWNER, FileRecord, FileRepository, Usage
from core.telemetry.governance import Governance

log = logging.getLogger(__name__)

MAX_METADATA_CHARS = 16_000


@dataclass(frozen=True)
class DeletedFile:
    file_id: str | None  # None: an unrecorded file inside the root
    path: str
    bytes: int


@dataclass(frozen=True)
class StorageUsage:
    total_bytes: int
    total_files: int
    users: list[Usage]


class StorageManager:
    """The seed's storage orchestrator. Typed methods raise; the seed's methods return plain
    dicts and bools."""

    def __init__(
        self,
        *,
        repo: FileRepository,
        settings: StorageSettings,
        root: Path,
        clock: Clock,
        events: Governance = Governance(),
        orphan_grace_seconds: int = 600,
    ) -> None:
        self._repo = repo
        self._settings = settings
        self.root = Path(root)
        self._clock = clock
        self._events = events
        self.orphan_grace_seconds = orphan_grace_seconds

    # --- typed API ----------------------------------------------------------------------

    def real_root(self) -> Path:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return Path(os.path.realpath(self.root))

    def absolute(self, record: FileRecord) -> Path:
        return resolve_inside(self.real_root(), record.path)

    def save(
        self,
        user_id: str,
        data: bytes,
        metadata: Mapping[str, Any] | None = None,
        *,
        guild_id: str | None = None,
        kept: bool = False,
    ) -> FileRecord:
        """Store an image for a user; return its record. Raises InvalidInput, UnsafePath."""
        user_id = check_id(user_id, "user id")
        scope = Scope.of(guild_id)
        if not isinstance(data, (bytes, bytearray)) or not data:
            raise InvalidInput("image bytes are empty")
        content_type = sniff_image_type(bytes(data[:16]))
        if content_type is None:
            raise InvalidInput("the data is not a PNG, JPEG or WEBP image")
        meta = _clean_metadata(metadata)
        now = self._clock.now()
        file_id = uuid.uuid4().hex
        relative = relative_path(user_id, now, file_id, content_type)
        target = resolve_inside(self.real_root(), relative)
        # Owner-only whatever the umask: prompts and images are the users' own.
        _private_dirs(self.real_root(), target.parent)
        atomic_write(target, bytes(data), mode=0o600)
        record = FileRecord(
            file_id=file_id,
            user_id=user_id,
            guild_id=scope.guild_id,
            path=relative,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type=content_type,
            kept=bool(kept),
            created_at=now,
            metadata=meta,
        )
        try:
            self._repo.insert(record)
        except BaseException:
            # No record, no file: a failed insert must not leave bytes nobody accounts for.
            target.unlink(missing_ok=True)
            raise
        log.info("stored file %s for user %s (%d bytes)", file_id, user_id, len(data))
        return record

    def get(self, file_id: str) -> FileRecord:
        record = self._repo.get(str(file_id))
        if record is None:
            raise UnknownFile(f"no file with id {str(file_id)[:40]!r}")
        return record

    def read(self, file_id: str, user_id: str | None = None) -> bytes:
        """The bytes of a stored file; with `user_id`, only when that user owns it."""
        record = self.get(file_id)
        if user_id is not None and record.user_id != user_id:
            raise UnknownFile(f"no file with id {str(file_id)[:40]!r} for this user")
        try:
            return self.absolute(record).read_bytes()
        except FileNotFoundError:
            raise UnknownFile(f"file {record.file_id} is recorded but missing on disk") from None

    def files(
        self, user_id: str, scope: Scope = Scope.GLOBAL, *, limit: int = 100
    ) -> list[FileRecord]:
        """A user's files in one scope (or Scope.EVERY), newest first."""
        user_id = check_id(user_id, "user id")
        return self._repo.list_for_user(user_id, scope, limit)

    def owned(self, file_id: str, user_id: str) -> FileRecord:
        """One of `user_id`'s files. Raises UnknownFile for a missing file and for someone
        else's (never saying which: a file id is not proof of ownership)."""
        record = self._repo.get(str(file_id))
        if record is None or record.user_id != user_id:
            raise UnknownFile(f"no file with id {str(file_id)[:40]!r} for this user")
        return record

    def keep(self, file_id: str, user_id: str, *, kept: bool = True) -> FileRecord:
        """Move one of a user's files to kept retention (`kept=False`: back to temporary).

        Kept files outlive storage.temp_retention_days and follow kept_retention_days
        (0 = forever). Idempotent. Raises UnknownFile when the user has no such file.
        """
        user_id = check_id(user_id, "user id")
        record = self._repo.set_kept(str(file_id), user_id, kept)
        if record is None:
            raise UnknownFile(f"no file with id {str(file_id)[:40]!r} for this user")
        log.info("file %s of user %s is now %s", record.file_id, user_id, _kind(record))
        self._events.record("storage_keep", {"file_id": record.file_id, "kept": record.kept})
        return record

    def kept_files(
        self, user_id: str, scope: Scope = Scope.GLOBAL, *, offset: int = 0, limit: int = 10
    ) -> list[FileRecord]:
        """A user's kept files in one scope (or Scope.EVERY), newest first: the gallery's
        pages."""
        user_id = check_id(user_id, "user id")
        if offset < 0 or not 1 <= limit <= 10_000:
            raise InvalidInput("offset must be >= 0 and limit 1-10000")
        return self._repo.kept_for_user(user_id, scope, offset, limit)

    def remove_owned(self, file_id: str, user_id: str) -> DeletedFile:
        """Delete one of a user's files and its record (the owner is in the delete's guard,
        so someone else's id deletes nothing). Raises UnknownFile."""
        user_id = check_id(user_id, "user id")
        root = self.real_root()
        removed = self._repo.delete_owned(str(file_id), user_id)
        if removed is None:
            raise UnknownFile(f"no file with id {str(file_id)[:40]!r} for this user")
        resolve_inside(root, removed.path).unlink(missing_ok=True)
        log.info("deleted file %s of user %s", removed.file_id, user_id)
        self._events.record("storage_delete", {"file_id": removed.file_id, "bytes": removed.bytes})
        return DeletedFile(removed.file_id, removed.path, removed.bytes)

    def remove(self, ref: str | os.PathLike[str]) -> DeletedFile:
        """Delete a file by id or by path (absolute inside the root, or root-relative).

        Raises UnsafePath for anything resolving outside the root (symlinks followed), and
        UnknownFile when there is neither a record nor a file.
        """
        root = self.real_root()
        record, target = self.locate(ref)
        if record is not None:
            return self._remove_record(root, record)
        size = target.stat().st_size
        target.unlink()
        relative = target.relative_to(root).as_posix()
        self._events.record("storage_delete", {"file_id": None, "bytes": size, "orphan": True})
        return DeletedFile(None, relative, size)

    def locate(self, ref: str | os.PathLike[str]) -> tuple[FileRecord | None, Path]:
        """Find what `remove` would delete: (record or None for an unrecorded file, path).

        Raises UnsafePath (logged as a security warning) or UnknownFile; changes nothing.
        """
        text = os.fspath(ref) if isinstance(ref, os.PathLike) else ref
        if not isinstance(text, str) or not text:
            raise InvalidInput("give a file id or a path")
        root = self.real_root()
        if _looks_like_id(text):
            record = self._repo.get(text)
            if record is not None:
                return record, resolve_inside(root, record.path)
        try:
            target = contain(root, text, "file")
        except UnsafePath as exc:
            log.warning("security: refused to touch %s (%s)", _shown(text), exc)
            self._events.record("storage_path_refused", {"reason": exc.code})
            raise
        record = self._repo.find_by_path(target.relative_to(root).as_posix())
        if record is not None:
            return record, target
        if target.is_file() and not target.is_symlink():
            return None, target
        raise UnknownFile(f"no stored file {_shown(text)}")

    def _remove_record(self, root: Path, record: FileRecord) -> DeletedFile:
        target = resolve_inside(root, record.path)
        removed = self._repo.delete(record.file_id)
        if removed is None:
            raise UnknownFile(f"file {record.file_id} was deleted meanwhile")
        target.unlink(missing_ok=True)
        log.info("deleted file %s of user %s", record.file_id, record.user_id)
        self._events.record("storage_delete", {"file_id": record.file_id, "bytes": record.bytes})
        return DeletedFile(record.file_id, record.path, record.bytes)

    def usage(self, top: int = 10) -> StorageUsage:
        total = self._repo.usage(GLOBAL_OWNER)
        return StorageUsage(total.bytes, total.files, self._repo.top_users(top))

    def cleanup(self, *, dry_run: bool = False, progress: Progress | None = None) -> CleanupReport:
        """Apply retention, remove orphans; safe to run while the bot saves files."""
        report = sweep(
            repo=self._repo,
            root=self.real_root(),
            settings=self._settings,
            now=self._clock.now(),
            orphan_grace_seconds=self.orphan_grace_seconds,
            dry_run=dry_run,
            progress=progress,
        )
        log.info(
            "storage cleanup%s: %d expired, %d orphans, %d bytes",
            " (dry run)" if dry_run else "",
            report.files_deleted,
            report.orphans_removed,
            report.bytes_freed,
        )
        if not dry_run:
            self._events.record("storage_cleanup", asdict(report))
        return report

    # --- the seed's contract --------------------------------------------------------------

    def save_generation(
        self,
        user_id: str,
        image_bytes: bytes,
        metadata: Mapping[str, Any] | None = None,
        *,
        guild_id: str | None = None,
        kept: bool = False,
    ) -> dict[str, Any]:
        """Store a generated image; return its record as a dict (with `success`)."""
        record = self.save(user_id, image_bytes, metadata, guild_id=guild_id, kept=kept)
        return self.to_dict(record)

    def list_user_files(self, user_id: str, guild_id: str | None = None) -> list[dict[str, Any]]:
        return [self.to_dict(record) for record in self.files(user_id, Scope.of(guild_id))]

    def delete_file(self, file_path: str | os.PathLike[str]) -> bool:
        """Delete by file id or path; False (and a security warning) for anything outside."""
        try:
            self.remove(file_path)
        except (UnsafePath, UnknownFile, InvalidInput):
            return False  # UnsafePath was logged as a security warning by locate()
        return True

    def cleanup_old_files(self) -> dict[str, Any]:
        report = self.cleanup()
        return {
            "files_deleted": report.files_deleted,
            "bytes_freed": report.bytes_freed,
            "orphans_removed": report.orphans_removed,
            "dry_run": report.dry_run,
        }

    def to_dict(self, record: FileRecord) -> dict[str, Any]:
        data = asdict(record)
        data["metadata"] = dict(record.metadata)
        data["created_at"] = record.created_at.isoformat()
        data["relative_path"] = record.path
        data["path"] = str(self.real_root() / record.path)
        data["success"] = True
        return data


def _private_dirs(root: Path, directory: Path) -> None:
    """Create `directory` (inside `root`) and its missing parents with mode 0700."""
    missing = []
    while directory != root and not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def _kind(record: FileRecord) -> str:
    return "kept" if record.kept else "temporary"


def _looks_like_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def _shown(value: object) -> str:
    text = repr(os.fspath(value) if isinstance(value, os.PathLike) else value)
    return text if len(text) <= 80 else text[:77] + "..."


def _clean_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput("metadata must be a mapping")
    try:
        text = json.dumps(dict(metadata), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        raise InvalidInput("metadata must hold JSON values only") from None
    if len(text) > MAX_METADATA_CHARS:
        raise InvalidInput(f"metadata is {len(text)} characters; the limit is {MAX_METADATA_CHARS}")
    return json.loads(text)
