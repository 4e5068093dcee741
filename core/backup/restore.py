"""Restoring a backup: verify everything, build the new data dir aside, then swap it in.

Phases (each safe to interrupt; a rerun of the same command finishes the job):

1. verify  — every member's sha256 and size against the manifest, and the schema version,
             before anything is written. A bad archive changes nothing.
2. extract — into `.<data dir name>.restoring` beside the data dir (a stale one from a crash
             is discarded and rebuilt).
3. import  — a SQLite target takes the archive's verified database copy when it has one
             (a SQLite source); otherwise the documents go through each domain's `import_()`
             into a new SQLite file in the staging dir or into the configured MongoDB
             database (which must be empty; the import is idempotent, so a rerun continues).
4. complete — a marker in the staging dir says the new copy is whole.
5. swap    — the current data dir is renamed aside (`<name>.before-restore-<UTC time>`, never
             deleted), the staging dir renamed into its place.
6. audit   — the restored bank proves its books; counts are compared with the manifest.

Until phase 5 the current data dir is untouched.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.backup.archive import FORMAT, Manifest, extract, verify
from core.backup.snapshot import vector_count
from core.db import records as neutral_records
from core.db.records import ImportReport
from core.errors import BackupTooNew, ConfigError, MissingKey, RestoreTargetNotEmpty
from core.progress import Progress

if TYPE_CHECKING:
    from core.config import Settings
    from core.db.mongo import MongoDatabase
    from core.db.sqlite import SqliteDatabase

log = logging.getLogger(__name__)

Phase = Callable[[str], None]
PHASES = ("verify", "extract", "keys", "import", "complete", "swap", "moved-aside", "audit")
COMPLETE = ".restore-complete"
STARTED = ".restore-import-started"
IMPORTED = ".restore-imported.json"
_KEY_SAMPLE = 20


@dataclass
class RestoreReport:
    archive: str
    data_dir: str
    backend: str
    dry_run: bool
    backup_created_at: str
    backup_backend: str
    counts: dict[str, int]
    vectors: int | None
    files: int
    replaces: str | None  # where the previous data dir went (or would go)
    keys: str
    imported: dict[str, Any] = field(default_factory=dict)
    audit_ok: bool | None = None
    counts_match: bool | None = None


def restore_backup(
    settings: Settings,
    archive: Path,
    *,
    yes: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    on_phase: Phase | None = None,
) -> RestoreReport:
    """Restore `archive` into the configured data dir (and database). See the module doc.

    Raises BackupInvalid / BackupTooNew (nothing changed), RestoreTargetNotEmpty (the data
    dir or database holds data and `yes` was not given), ConfigError for a layout it cannot
    restore into (storage root or Chroma outside the data dir).
    """
    archive = Path(archive).expanduser()
    step = on_phase or (lambda _p: None)
    data_dir = settings.data_dir.resolve(strict=False)
    step("verify")
    manifest = verify(archive, progress)
    if manifest.format > FORMAT or manifest.schema_version > neutral_records.SCHEMA_VERSION:
        raise BackupTooNew(
            f"{archive} was written by Abby {manifest.abby_version} with record schema "
            f"{manifest.schema_version}; this Abby reads up to {neutral_records.SCHEMA_VERSION}"
            ": upgrade Abby first; nothing was changed"
        )
    _check_layout(settings, data_dir)
    staging = data_dir.with_name(f".{data_dir.name}.restoring")
    identity = f"{manifest.created_at} {manifest.files.get('config.json', {}).get('sha256')}"
    resumable = _read(staging / COMPLETE) == identity
    # An import of this same archive into MongoDB that a crash interrupted: its records are
    # ours, and the idempotent import continues it.
    imported_before = _read(staging / STARTED) == identity
    holds = _holds_data(settings, data_dir)
    backend = "sqlite" if settings.database.uri is None else "mongo"
    if backend == "mongo" and not (resumable or imported_before) and _mongo_holds_data(settings):
        raise RestoreTargetNotEmpty(
            f"the MongoDB database {settings.database.name!r} already holds Abby data: restore "
            "into an empty database (set database.name to a new one), then switch to it"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = data_dir.with_name(f"{data_dir.name}.before-restore-{stamp}") if holds else None
    report = RestoreReport(
        archive=str(archive),
        data_dir=str(data_dir),
        backend=backend,
        dry_run=dry_run,
        backup_created_at=manifest.created_at,
        backup_backend=manifest.backend,
        counts=dict(manifest.counts),
        vectors=manifest.vectors,
        files=sum(1 for name in manifest.files if name.startswith("storage/")),
        replaces=str(aside) if aside else None,
        keys="",
    )
    if holds and not yes and not dry_run:
        raise RestoreTargetNotEmpty(
            f"the data dir {data_dir} already holds data; give --yes to replace it (it is "
            "moved aside, not deleted) or restore into an empty data dir; nothing was changed"
        )
    if dry_run:
        report.keys = _key_plan(manifest, settings, data_dir)
        return report
    with _restore_lock(data_dir):
        if not resumable:
            step("extract")
            if staging.exists():
                shutil.rmtree(staging)  # a crashed attempt; the current data dir is untouched
            staging.mkdir(mode=0o700, parents=True)
            extract(archive, staging, manifest, progress)
            if (staging / "config.json").exists():
                os.replace(staging / "config.json", staging / "backup-config.json")
            step("keys")
            report.keys = _place_keys(manifest, settings, data_dir, staging)
            step("import")
            _write(staging / STARTED, identity)
            copy = staging / manifest.database if manifest.database else None
            if copy is not None and settings.database.uri is None:
                # SQLite to SQLite: the verified copy is the database (the same snapshot as
                # the documents); importing it record by record would only be slower.
                os.replace(copy, staging / settings.sqlite_path.name)
                report.imported = {"database_file": manifest.database}
            else:
                expected = sum(manifest.counts.values())
                report.imported = _import(settings, staging, expected, progress).to_dict()
            shutil.rmtree(staging / "documents", ignore_errors=True)
            shutil.rmtree(staging / "database", ignore_errors=True)
            step("complete")
            _write(staging / IMPORTED, json.dumps(report.imported))
            _write(staging / COMPLETE, identity)
        else:
            report.keys = "resumed a restore whose new copy was already complete"
            report.imported = json.loads(_read(staging / IMPORTED) or "{}")
        step("swap")
        if data_dir.exists():
            aside = _free_name(aside or data_dir.with_name(f"{data_dir.name}.before-{stamp}"))
            os.rename(data_dir, aside)
            report.replaces = str(aside)
        step("moved-aside")  # a crash here leaves no data dir; the rerun renames the new one in
        os.rename(staging, data_dir)
        (data_dir / COMPLETE).unlink(missing_ok=True)
        (data_dir / STARTED).unlink(missing_ok=True)
        (data_dir / IMPORTED).unlink(missing_ok=True)
        _fsync_dir(data_dir.parent)
    step("audit")
    report.audit_ok, report.counts_match = _audit(settings, manifest, report.imported)
    report.vectors = vector_count(data_dir / "chroma") if (data_dir / "chroma").is_dir() else None
    log.info("restored %s into %s", archive, data_dir)
    return report


# --- the target -------------------------------------------------------------------------------


def _check_layout(settings: Settings, data_dir: Path) -> None:
    for what, path in (("storage.root", settings.storage_root), ("Chroma", settings.chroma_path)):
        if not path.resolve(strict=False).is_relative_to(data_dir):
            raise ConfigError(
                f"{what} ({path}) is outside the data dir {data_dir}: restore supports the "
                "default layout only; unset it for the restore"
            )


def _holds_data(settings: Settings, data_dir: Path) -> bool:
    """True when the data dir has a database, vectors or stored files (a key file, logs and
    telemetry alone are not data: an operator may make keys before restoring)."""
    if not data_dir.exists():
        return False
    if settings.database.uri is None and settings.sqlite_path.exists():
        return True
    for directory in (settings.chroma_path, settings.storage_root):
        if directory.is_dir() and any(p.is_file() for p in directory.rglob("*")):
            return True
    return False


def _mongo_holds_data(settings: Settings) -> bool:
    from core.db.mongo import MongoDatabase

    db = MongoDatabase(
        settings.database.uri.get_secret_value(),  # type: ignore[union-attr]
        name=settings.database.name,
        server_selection_timeout_ms=settings.database.server_selection_timeout_ms,
    )
    try:
        return any(count for count in db.tables().values())
    finally:
        db.close()


@contextmanager
def _restore_lock(data_dir: Path) -> Iterator[None]:
    """One restore of a data dir at a time (a second waits, then finds the work done)."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(
        data_dir.with_name(f".{data_dir.name}.restore.lock"), os.O_RDWR | os.O_CREAT, 0o600
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# --- keys -------------------------------------------------------------------------------------


def _key_file_in(settings: Settings, data_dir: Path, staging: Path) -> Path:
    """Where the restored Abby will read its key file from."""
    configured = settings.key_file.resolve(strict=False)
    if configured.is_relative_to(data_dir):
        return staging / configured.relative_to(data_dir)
    return configured


def _place_keys(manifest: Manifest, settings: Settings, data_dir: Path, staging: Path) -> str:
    """Keep the machine's key file across the swap (unless the archive brings keys), then
    check that the ring the restored Abby will use decrypts a sample of the sessions."""
    target = _key_file_in(settings, data_dir, staging)
    if not manifest.includes_keys:
        for name in ("keys", "pseudonym.key"):
            current = settings.key_file if name == "keys" else data_dir / name
            dest = target if name == "keys" else staging / name
            if current.is_file() and not dest.exists() and dest.is_relative_to(staging):
                shutil.copy2(current, dest)
                os.chmod(dest, 0o600)
    return _sample_decrypts(settings, target, staging / "documents" / "sessions.jsonl.gz")


def _key_plan(manifest: Manifest, settings: Settings, data_dir: Path) -> str:
    if manifest.includes_keys:
        return "the archive carries its keys; the sessions will decrypt with them"
    return (
        f"the archive has no keys; the key ring of {settings.key_file} (or the environment) "
        "will be checked against a sample of the sessions"
    )


def _sample_decrypts(settings: Settings, key_file: Path, sessions: Path) -> str:
    from core.security.keyring import KeySource

    tokens: list[tuple[str, str]] = []
    if sessions.is_file():
        with gzip.open(sessions, "rt", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                if record.get("record") == "session_messages":
                    tokens.append((record["content"], record["key_id"]))
                    if len(tokens) >= _KEY_SAMPLE:
                        break
    if not tokens:
        return "no session messages to decrypt"
    try:
        ring = KeySource(settings.security, key_file).ring()
    except MissingKey:
        return (
            f"WARNING: no encryption key for the restored data: 0 of {len(tokens)} sampled "
            "session messages decrypt; supply the keys (ABBY_ENCRYPTION_KEYS or the key file)"
        )
    ok = 0
    for token, key_id in tokens:
        try:
            ring.decrypt(token, key_id)
            ok += 1
        except Exception:  # noqa: BLE001 - any failure to decrypt counts as not decrypting
            pass
    verdict = "" if ok == len(tokens) else "WARNING: "
    return f"{verdict}{ok} of {len(tokens)} sampled session messages decrypt with the key ring"


# --- documents --------------------------------------------------------------------------------


def _import(
    settings: Settings, staging: Path, expected: int, progress: Progress | None
) -> ImportReport:
    """Every domain's documents into the target database. `progress(done, total)` counts
    records, of the `expected` the manifest lists (more if the archive holds more)."""
    from core.context import repositories_of

    if settings.database.uri is None:
        from core.db.sqlite import SqliteDatabase

        db: SqliteDatabase | MongoDatabase = SqliteDatabase(
            staging / settings.sqlite_path.name, busy_timeout_ms=settings.database.busy_timeout_ms
        )
    else:
        from core.db.mongo import MongoDatabase

        db = MongoDatabase(
            settings.database.uri.get_secret_value(),
            name=settings.database.name,
            server_selection_timeout_ms=settings.database.server_selection_timeout_ms,
        )
    total = ImportReport()
    try:
        repos = repositories_of(db)
        done = 0
        for domain, repo in repos.items():
            path = staging / "documents" / f"{domain}.jsonl.gz"
            if not path.is_file():
                continue

            def records(path: Path = path) -> Iterator[dict[str, Any]]:
                nonlocal done
                with gzip.open(path, "rt", encoding="utf-8") as handle:
                    for line in handle:
                        done += 1
                        if progress and done % 5000 == 0:
                            progress(done, max(done, expected))
                        yield json.loads(line)

            total.merge(repo.import_(records()))
        if progress:
            progress(done, max(done, expected))
    finally:
        db.close()
    return total


def _audit(
    settings: Settings, manifest: Manifest, imported: dict[str, Any]
) -> tuple[bool, bool | None]:
    """The restored bank's audit, and whether every record arrived: the database copy's row
    counts per table, or every exported record inserted by the import, none in conflict.
    (None after a resumed restore, whose import report is gone.)"""
    from core.context import AppContext

    ctx = AppContext(settings)
    try:
        audit = ctx.bank.audit()
        if "database_file" in imported and manifest.tables is not None:
            tables = ctx.database.tables()
            arrived = {name: tables.get(name, 0) for name in manifest.tables} == manifest.tables
        elif "inserted" in imported:
            arrived = (
                imported["inserted"] + imported["unchanged"] == sum(manifest.counts.values())
                and imported["conflicts"] == 0
            )
        else:
            arrived = None
        return audit.ok, arrived
    finally:
        ctx.close()


# --- small files ------------------------------------------------------------------------------


def _free_name(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`... when a restore in the same second took it."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None


def _write(path: Path, text: str) -> None:
    from core.paths import atomic_write

    atomic_write(path, text.encode("utf-8"), mode=0o600)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
