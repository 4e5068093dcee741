"""Taking a backup: one consistent archive of the documents, vectors, files and settings.

Consistency while the bot and cron keep writing:
- SQLite: every domain's export runs inside ONE read transaction on this thread's connection
  (the exports reuse it), so all documents come from one snapshot: a transfer is in with both
  ledger rows or not at all. Nothing copies the live database file or its WAL.
- MongoDB: each domain is read in key order; a transfer caught between its steps is restored
  as pending and finished or undone by the bank's recovery when the restored bank opens.
- Chroma (embedded): its files are copied under the store's exclusive write lock, the
  SQLite file inside it through the online backup API.
- Stored files are written once (temp file + rename) and never changed, so each is copied as
  it is; one deleted meanwhile (cleanup) is skipped and counted.

The archive is written to a temp file beside the target (0600) and renamed into place only
when complete; any failure removes the temp file, so there is never a partial archive.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import logging
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.backup.archive import ArchiveWriter, Manifest
from core.db import records as neutral_records
from core.db.sqlite import SqliteDatabase
from core.errors import InvalidInput, storage_error
from core.progress import Progress

if TYPE_CHECKING:
    from core.context import AppContext

log = logging.getLogger(__name__)

Phase = Callable[[str], None]
_CHROMA_SKIP = {"abby.lock"}
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class BackupReport:
    path: str
    bytes: int
    backend: str
    counts: dict[str, int]
    vectors: int | None
    files: int
    files_skipped: int
    includes_keys: bool
    seconds: float


def abby_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("abby")
    except PackageNotFoundError:
        return "unknown"


def create_backup(
    ctx: AppContext,
    output: Path,
    *,
    include_keys: bool = False,
    progress: Progress | None = None,
    on_phase: Phase | None = None,
) -> BackupReport:
    """Write one archive of everything Abby holds to `output` (0600, atomic)."""
    import time

    started = time.monotonic()
    output = Path(output).expanduser()
    if output.is_dir():
        raise InvalidInput(f"{output} is a directory; give the archive's file name")
    settings = ctx.settings
    data_dir = settings.data_dir.resolve()
    if output.resolve().is_relative_to(settings.storage_root.resolve()):
        raise InvalidInput(f"{output} is inside the storage root; write the backup elsewhere")
    step = on_phase or (lambda _p: None)
    tick = progress or _no_progress
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_name(f".{output.name}.{secrets.token_hex(6)}.partial")
    manifest = Manifest(
        abby_version=abby_version(),
        schema_version=neutral_records.SCHEMA_VERSION,
        backend=ctx.database.backend,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        includes_keys=include_keys,
    )
    files = skipped = 0
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with (
            os.fdopen(fd, "wb") as handle,
            tempfile.TemporaryDirectory(
                dir=output.parent, prefix=f".{output.name}.work-"
            ) as work_dir,
        ):
            work = Path(work_dir)
            writer = ArchiveWriter(handle, manifest)
            step("documents")
            tables: dict[str, int] = {}
            for name, path in _export_documents(ctx, work, manifest.counts, tables, tick):
                writer.add_file(name, path)
                path.unlink()
                if name.startswith("database/"):
                    manifest.database, manifest.tables = name, tables
            step("vectors")
            if settings.rag.chroma_url is None and settings.chroma_path.is_dir():
                copy = work / "chroma"
                manifest.vectors = _copy_chroma(settings.chroma_path, copy)
                for name, path in _tree(copy, "chroma"):
                    writer.add_file(name, path)
            step("files")
            stored = _tree(settings.storage_root, "storage", skip_temp=True)
            for name, path in stored:
                try:
                    writer.add_file(name, path)
                    files += 1
                except FileNotFoundError:
                    skipped += 1  # removed by cleanup since the walk listed it
                tick(files + skipped, len(stored))
            if include_keys:
                for name, path in (
                    ("keys", settings.key_file),
                    ("pseudonym.key", data_dir / "pseudonym.key"),
                ):
                    if path.is_file():
                        writer.add_file(name, path)
            writer.add_bytes("config.json", _masked_config(ctx))
            step("manifest")
            writer.close()
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, output)
        _fsync_dir(output.parent)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            typed = storage_error(exc, output)
            if typed is not None:
                raise typed from exc
        raise
    size = output.stat().st_size
    log.info("backup written to %s (%d bytes, %d files)", output, size, files)
    return BackupReport(
        path=str(output),
        bytes=size,
        backend=manifest.backend,
        counts=dict(manifest.counts),
        vectors=manifest.vectors,
        files=files,
        files_skipped=skipped,
        includes_keys=include_keys,
        seconds=round(time.monotonic() - started, 3),
    )


def _export_documents(
    ctx: AppContext, work: Path, counts: dict[str, int], tables: dict[str, int], tick: Progress
) -> list[tuple[str, Path]]:
    """Each domain's records gzipped into work/, all from one snapshot on SQLite."""
    from core.context import repositories_of
    from core.mobility import counts as record_counts

    db = ctx.database
    written: list[tuple[str, Path]] = []
    snapshot = None
    if isinstance(db, SqliteDatabase):
        # One consistent copy through the online backup API; the documents are exported from
        # it, so the file and the documents are the same snapshot by construction. A SQLite
        # restore then takes the file as it is (no import), a MongoDB one the documents.
        repositories_of(db)  # every domain's tables exist in the copy too
        path = work / "abby.db"
        target = sqlite3.connect(path)
        try:
            with db.errors():
                db.connection().backup(target)
        finally:
            target.close()
        os.chmod(path, 0o600)
        snapshot = db = SqliteDatabase(path)
        written.append(("database/abby.db", path))
        tables.update(snapshot.tables())
    repos = repositories_of(db)
    # Records to write: the tables' counts up front (MongoDB's are estimates, so the total
    # follows the count when it runs past them).
    expected = sum(record_counts(db, repos).values())
    done = 0
    conn = db.connection() if isinstance(db, SqliteDatabase) else None
    if conn is not None:
        with db.errors():
            conn.execute("BEGIN")
            # The first read fixes the snapshot every export below then sees.
            conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()
    try:
        for domain, repo in repos.items():
            path = work / f"{domain}.jsonl.gz"
            with gzip.open(path, "wt", encoding="utf-8", compresslevel=3) as out:
                for record in repo.export():
                    out.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
                    out.write("\n")
                    counts[record["record"]] = counts.get(record["record"], 0) + 1
                    done += 1
                    if done % 5000 == 0:
                        tick(done, max(done, expected))
            written.append((f"documents/{domain}.jsonl.gz", path))
    finally:
        if conn is not None and conn.in_transaction:
            conn.execute("ROLLBACK")
        if snapshot is not None:
            snapshot.close()
    tick(done, done)
    return written


def _no_progress(done: int, total: int) -> None:
    return None


def _copy_chroma(source: Path, target: Path) -> int | None:
    """Copy the embedded Chroma store under its exclusive write lock; return its vector count."""
    target.mkdir(mode=0o700, parents=True)
    lock_fd = os.open(source / "abby.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if path.is_symlink() or path.name in _CHROMA_SKIP or path.is_dir():
                continue
            if path.name.endswith(_SQLITE_SIDE_FILES):
                continue  # the online backup below reads them through SQLite
            dest = target / relative
            dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.suffix == ".sqlite3":
                _sqlite_copy(path, dest)
            else:
                shutil.copyfile(path, dest)
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)
    return vector_count(target)


def vector_count(chroma_dir: Path) -> int | None:
    """How many vectors a Chroma directory holds (read from its SQLite file, no chromadb)."""
    path = chroma_dir / "chroma.sqlite3"
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _sqlite_copy(source: Path, dest: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    out = sqlite3.connect(dest)
    try:
        src.backup(out)
    finally:
        out.close()
        src.close()
    os.chmod(dest, 0o600)


def _tree(root: Path, prefix: str, *, skip_temp: bool = False) -> list[tuple[str, Path]]:
    """Regular files under root (symlinks never followed), as (archive name, path)."""
    from core.paths import TEMP_PREFIX

    found: list[tuple[str, Path]] = []
    if not root.is_dir():
        return found
    for directory, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            if skip_temp and name.startswith(TEMP_PREFIX):
                continue
            found.append((f"{prefix}/{path.relative_to(root).as_posix()}", path))
    return found


def _masked_config(ctx: AppContext) -> bytes:
    """The effective settings with every secret masked (SecretStr dumps as stars)."""
    data: dict[str, Any] = ctx.settings.model_dump(mode="json")
    return json.dumps(data, indent=1, sort_keys=True, default=str).encode("utf-8")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
