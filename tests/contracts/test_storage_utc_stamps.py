"""File records written before the UTC stamps (#10) open with today's code, times intact.

The storage backends wrote `created_at` with `isoformat()` and no conversion to UTC (commit
5f182f4, core/storage/_sqlite.py's `stamp()`): an aware time in another offset, or a naive one,
was stored as it came, so text order was no longer time order and retention compared texts of
different offsets. SQLite rows are rewritten once by `storage_0003_utc_stamps`; MongoDB always
stored native dates, read back aware.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from core.db.codec import stamp
from core.db.mongo import MongoDatabase
from core.db.sqlite import SqliteDatabase
from core.scope import Scope
from core.storage import _mongo, _sqlite

# (file id, stored created_at in an old form, the UTC moment it means)
OLD_FORMS = [
    ("a" * 32, "2026-03-01T09:00:00.000000+00:00", datetime(2026, 3, 1, 9, tzinfo=UTC)),
    # 12:30 at +02:00 is 10:30 UTC: after "a", before "c", although its text sorts last.
    ("b" * 32, "2026-03-01T12:30:00.000000+02:00", datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
    ("c" * 32, "2026-03-01T11:00:00.250000", datetime(2026, 3, 1, 11, 0, 0, 250000, tzinfo=UTC)),
    ("d" * 32, "2026-03-01T11:30:00+00:00", datetime(2026, 3, 1, 11, 30, tzinfo=UTC)),
]


def _old_sqlite_store(path: Path) -> None:
    """The schema of the release before #10, rows written by plain sqlite3 in its forms."""
    old = SqliteDatabase(path)
    old.migrate(_sqlite.MIGRATIONS[:2])
    old.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO storage_files (file_id, user_id, scope, path, bytes, sha256,"
            " content_type, kept, created_at, metadata) VALUES (?, 'u1', 'g1', ?, 10, '0',"
            " 'image/png', 0, ?, '{}')",
            [(fid, f"u1/2026-03/{fid}.png", text) for fid, text, _ in OLD_FORMS],
        )
    conn.close()


def test_old_sqlite_creation_times_are_rewritten_as_fixed_width_utc(tmp_path: Path) -> None:
    _old_sqlite_store(tmp_path / "abby.db")
    db = SqliteDatabase(tmp_path / "abby.db")
    repo = _sqlite.SqliteFileRepository(db)
    assert "storage_0003_utc_stamps" in db.applied_migrations()
    stored = {row[0]: row[1] for row in db.all("SELECT file_id, created_at FROM storage_files")}
    assert stored == {fid: stamp(moment) for fid, _, moment in OLD_FORMS}
    for fid, _, moment in OLD_FORMS:
        record = repo.get(fid)
        assert record is not None and record.created_at == moment
        assert record.created_at.tzinfo is not None
    # Newest first by time, not by the old texts (which put "b" first).
    newest = [r.file_id for r in repo.list_for_user("u1", Scope.of("g1"), 10)]
    assert newest == ["d" * 32, "c" * 32, "b" * 32, "a" * 32]
    # Retention compares times: only "a" and "b" are older than 10:45 UTC.
    cutoff = datetime(2026, 3, 1, 10, 45, tzinfo=UTC)
    assert sorted(p.file_id for p in repo.expired(False, cutoff)) == ["a" * 32, "b" * 32]
    db.close()


def test_the_rewrite_runs_once_and_new_records_are_stamped_in_utc(tmp_path: Path) -> None:
    _old_sqlite_store(tmp_path / "abby.db")
    db = SqliteDatabase(tmp_path / "abby.db")
    repo = _sqlite.SqliteFileRepository(db)
    record = repo.get("b" * 32)
    assert record is not None
    # A time given in another offset is stored as its UTC moment.
    east = timezone(timedelta(hours=5))
    moment = datetime(2026, 3, 1, 17, 0, tzinfo=east)
    repo.insert(replace(record, file_id="e" * 32, path="u1/2026-03/e.png", created_at=moment))
    db.close()
    again = SqliteDatabase(tmp_path / "abby.db")
    assert again.migrate(_sqlite.MIGRATIONS) == []
    text = again.value("SELECT created_at FROM storage_files WHERE file_id = ?", ("e" * 32,))
    assert text == "2026-03-01T12:00:00.000000+00:00"
    again.close()


def test_old_mongo_file_documents_read_back_as_aware_utc_times(mongo_uri: str) -> None:
    name = f"t{uuid.uuid4().hex[:16]}"
    db = MongoDatabase(mongo_uri, name=name)
    try:
        db.db["schema_versions"].insert_one({"_id": "storage", "version": 2})
        # Plain pymongo, as the old code wrote them: an aware time in another offset and a
        # naive one (pymongo stores both as the UTC instant).
        db.db[_mongo.FILES].insert_many(
            [
                {
                    "_id": fid, "user_id": "u1", "scope": "g1", "path": f"u1/2026-03/{fid}.png",
                    "bytes": 10, "sha256": "0", "content_type": "image/png", "kept": False,
                    "created_at": moment.astimezone(timezone(timedelta(hours=2)))
                    if i % 2 else moment.replace(tzinfo=None),
                    "metadata": {},
                }
                for i, (fid, _, moment) in enumerate(OLD_FORMS)
            ]
        )  # fmt: skip
        repo = _mongo.MongoFileRepository(db)
        for fid, _, moment in OLD_FORMS:
            record = repo.get(fid)
            assert record is not None and record.created_at == moment
            assert record.created_at.utcoffset() == timedelta(0)
        newest = [r.file_id for r in repo.list_for_user("u1", Scope.EVERY, 10)]
        assert newest == ["d" * 32, "c" * 32, "b" * 32, "a" * 32]
        cutoff = datetime(2026, 3, 1, 10, 45, tzinfo=UTC)
        assert sorted(p.file_id for p in repo.expired(False, cutoff)) == ["a" * 32, "b" * 32]
    finally:
        db.client.drop_database(name)
        db.close()
