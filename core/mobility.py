"""Copy every domain from one document database to another (`abby db copy --to URI`).

The driver streams each repository's `export()` into the target's `import_()`, which batches
and is idempotent: a rerun after a crash or Ctrl-C inserts only what is missing and never
duplicates. A checkpoint in the source data dir (`copies/<digest>.json`) remembers which
domains are complete, so a rerun continues after them and is not refused as "non-empty".
It ends with the bank audit and the record counts of both sides.
The vectors of the knowledge base live in Chroma and are not copied: only their records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.db._sqlite_records import count_records
from core.db.records import ImportReport, Portable, Record
from core.db.sqlite import SqliteDatabase
from core.economy.bank import BankService
from core.economy.repository import BankRepository
from core.errors import CopyTargetNotEmpty, DatabaseCorrupt, InvalidInput
from core.paths import atomic_write
from core.progress import Progress

if TYPE_CHECKING:
    from core.context import AppContext
    from core.db.mongo import MongoDatabase

log = logging.getLogger(__name__)

# Short on purpose: an unreachable target is reported (exit 75) within 5 s of the command.
TARGET_SELECTION_TIMEOUT_MS = 2_000
_PROGRESS_EVERY = 1_000


@dataclass
class DomainCopy:
    domain: str
    source_records: int
    target_records: int = 0
    report: ImportReport = field(default_factory=ImportReport)
    skipped: bool = False  # complete in an earlier run (the checkpoint says so)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "source_records": self.source_records,
            "target_records": self.target_records,
            **self.report.to_dict(),
            "skipped": self.skipped,
        }


@dataclass
class CopyReport:
    source: str
    target: str
    resumed: bool
    merged: bool
    domains: list[DomainCopy]
    source_audit_ok: bool
    target_audit_ok: bool
    audit_problems: list[str]
    seconds: float

    @property
    def conflicts(self) -> int:
        return sum(d.report.conflicts for d in self.domains)

    @property
    def copied(self) -> int:
        return sum(d.report.total for d in self.domains)

    @property
    def ok(self) -> bool:
        """Books balance on the target, nothing conflicted, and every record is there."""
        complete = all(d.target_records >= d.source_records for d in self.domains)
        return self.target_audit_ok and self.conflicts == 0 and complete

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "target": self.target,
            "resumed": self.resumed,
            "merged": self.merged,
            "records": self.copied,
            "conflicts": self.conflicts,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.copied / self.seconds) if self.seconds else None,
            "audit": {
                "source_ok": self.source_audit_ok,
                "target_ok": self.target_audit_ok,
                "problems": self.audit_problems,
            },
            "domains": [d.to_dict() for d in self.domains],
        }


def counts(db: SqliteDatabase | MongoDatabase, repos: Mapping[str, Portable]) -> dict[str, int]:
    """Records per domain, as export() counts them (0 where a table does not exist yet)."""
    if isinstance(db, SqliteDatabase):
        return {d: count_records(db, repo.TABLES) for d, repo in repos.items()}
    tables = db.tables()
    return {d: sum(tables.get(t.name, 0) for t in repo.TABLES) for d, repo in repos.items()}


class _Checkpoint:
    """Which domains of a copy to one target are complete; a file in the source data dir."""

    def __init__(self, data_dir: Path, target_id: str, target_shown: str) -> None:
        digest = hashlib.sha256(target_id.encode()).hexdigest()[:16]
        self.path = data_dir / "copies" / f"{digest}.json"
        self.state: dict[str, Any] | None = None
        self._shown = target_shown
        try:
            self.state = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            pass
        except (OSError, ValueError):
            log.warning("ignoring an unreadable copy checkpoint %s", self.path)

    @property
    def in_progress(self) -> bool:
        return self.state is not None and not self.state.get("finished", False)

    def done(self) -> set[str]:
        return set(self.state.get("done", [])) if self.in_progress and self.state else set()

    def save(self, done: Iterable[str], *, finished: bool) -> None:
        self.state = {
            "target": self._shown,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "done": sorted(done),
            "finished": finished,
        }
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        atomic_write(self.path, json.dumps(self.state, indent=2).encode(), mode=0o600)


def _counted(records: Iterable[Record], step: Callable[[], None]) -> Iterator[Record]:
    n = 0
    for record in records:
        yield record
        n += 1
        if n % _PROGRESS_EVERY == 0:
            step()


def copy_database(
    source: AppContext,
    target_uri: str,
    *,
    merge: bool = False,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy every domain of `source` into the database at `target_uri`.

    Raises InvalidInput (a bad URI, or the source itself), ServiceUnavailable (the target
    is unreachable: within TARGET_SELECTION_TIMEOUT_MS), CopyTargetNotEmpty (the target holds
    records and neither --merge nor an unfinished copy to it explains them).
    """
    from core.context import open_database, repositories_of

    started = time.monotonic()
    target_db = open_database(
        target_uri, source.settings, server_selection_timeout_ms=TARGET_SELECTION_TIMEOUT_MS
    )
    try:
        if _same_place(source.database, target_db):
            raise InvalidInput(f"the target {target_db.location} is the source database itself")
        try:
            target_repos = repositories_of(target_db)  # creates the schema; first, fails fast
        except (sqlite3.DatabaseError, DatabaseCorrupt) as exc:
            raise InvalidInput(
                f"the target {target_db.location} is not an SQLite database; name a new file"
            ) from exc
        source.bank.recover()  # finish movements a dead process left pending (MongoDB)
        source_repos = source.repositories()
        checkpoint = _Checkpoint(source.settings.data_dir, _identity(target_db), target_db.location)
        before = counts(target_db, target_repos)
        held = sum(before.values())
        resumed = checkpoint.in_progress
        if held and not merge and not resumed:
            raise CopyTargetNotEmpty(
                f"the target {target_db.location} already holds {held} records; "
                "add --merge to copy into it (existing records are kept, differing ones "
                "are reported)"
            )
        sizes = counts(source.database, source_repos)
        # Trust the checkpoint only where the target still holds the domain (it may have been
        # emptied or swapped since): anything else is imported again, which is harmless.
        done = {d for d in checkpoint.done() if before.get(d, 0) >= sizes.get(d, 0)}
        total = sum(n for d, n in sizes.items() if d not in done)
        copies = [DomainCopy(d, sizes[d], skipped=d in done) for d in source_repos]
        moved = 0

        def step(n: int = _PROGRESS_EVERY) -> None:
            nonlocal moved
            moved += n
            if progress is not None:
                progress(min(moved, total), total)

        if progress is not None:
            progress(0, total)
        checkpoint.save(done, finished=False)
        for item in copies:
            if item.skipped:
                continue
            # closing(): a failed import ends the export now (SQLite: its read transaction).
            with closing(source_repos[item.domain].export()) as stream:
                item.report = target_repos[item.domain].import_(_counted(stream, step))
            step(item.report.total % _PROGRESS_EVERY)
            done.add(item.domain)
            checkpoint.save(done, finished=False)
            log.info(
                "copied %s: %d inserted, %d unchanged, %d conflicts",
                item.domain, item.report.inserted, item.report.unchanged, item.report.conflicts,
            )  # fmt: skip
        after = counts(target_db, target_repos)
        for item in copies:
            item.target_records = after[item.domain]
        source_audit = source.bank.audit()
        target_audit = _bank(source, target_repos).audit()
        checkpoint.save(done, finished=True)
        return CopyReport(
            source=source.database.location,
            target=target_db.location,
            resumed=resumed,
            merged=merge,
            domains=copies,
            source_audit_ok=source_audit.ok,
            target_audit_ok=target_audit.ok,
            audit_problems=list(target_audit.problems),
            seconds=time.monotonic() - started,
        )
    finally:
        target_db.close()


def _bank(source: AppContext, repos: Mapping[str, Portable]) -> BankService:
    """The bank of the target database, for its audit."""
    repo = repos["bank"]
    assert isinstance(repo, BankRepository)
    return BankService(repo=repo, settings=source.settings.bank, clock=source.clock)


def _identity(db: SqliteDatabase | MongoDatabase) -> str:
    if isinstance(db, SqliteDatabase):
        return f"sqlite:{db.path.resolve()}"
    return f"mongo:{db.location}"


def _same_place(a: SqliteDatabase | MongoDatabase, b: SqliteDatabase | MongoDatabase) -> bool:
    return a.backend == b.backend and _identity(a) == _identity(b)
