"""A file store created before the gallery (the first storage schema) upgrades in place: the
kept index appears, old records keep their kind, and the gallery query reads the index."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from core.db.mongo import MongoDatabase
from core.db.sqlite import SqliteDatabase
from core.scope import Scope
from core.storage import _mongo, _sqlite

OLD_ROWS = [
    ("a" * 32, "u1", "g1", "u1/2026-01/a.png", 1, 1),
    ("b" * 32, "u1", "g1", "u1/2026-01/b.png", 0, 2),
]


def test_a_first_release_sqlite_store_gains_the_kept_index(tmp_path: Path) -> None:
    old = SqliteDatabase(tmp_path / "abby.db")
    old.migrate(_sqlite.MIGRATIONS[:1])  # the oldest shape
    with old.transaction() as conn:
        conn.executemany(
            "INSERT INTO storage_files (file_id, user_id, scope, path, bytes, sha256,"
            " content_type, kept, created_at) VALUES (?, ?, ?, ?, 10, '0', 'image/png', ?, ?)",
            [(*row[:4], row[4], f"2026-01-0{row[5]}T00:00:00.000000+00:00") for row in OLD_ROWS],
        )
    old.close()
    db = SqliteDatabase(tmp_path / "abby.db")
    repo = _sqlite.SqliteFileRepository(db)
    assert [r.file_id for r in repo.kept_for_user("u1", Scope.of("g1"), 0, 10)] == ["a" * 32]
    assert repo.set_kept("b" * 32, "u1", True).kept is True
    plan = " ".join(
        str(row[3])
        for row in db.connection().execute(
            "EXPLAIN QUERY PLAN SELECT * FROM storage_files WHERE user_id = ? AND kept = 1"
            " AND scope = ? ORDER BY created_at DESC LIMIT 11",
            ("u1", "g1"),
        )
    )
    assert "storage_files_kept" in plan and "TEMP B-TREE" not in plan, plan
    db.close()


def test_a_version_one_mongo_store_gains_the_kept_index(mongo_uri: str) -> None:
    name = f"t{uuid.uuid4().hex[:16]}"
    db = MongoDatabase(mongo_uri, name=name)
    try:
        db.db["schema_versions"].insert_one({"_id": "storage", "version": 1})
        db.db[_mongo.FILES].insert_many(
            [
                {
                    "_id": file_id, "user_id": user, "scope": scope, "path": path,
                    "bytes": 10, "sha256": "0", "content_type": "image/png",
                    "kept": bool(kept), "created_at": datetime(2026, 1, day, tzinfo=UTC),
                    "metadata": {},
                }
                for file_id, user, scope, path, kept, day in OLD_ROWS
            ]
        )  # fmt: skip
        repo = _mongo.MongoFileRepository(db)
        assert "user_kept_time" in db.db[_mongo.FILES].index_information()
        assert db.schema_versions()["storage"] == _mongo.SCHEMA_VERSION
        assert [r.file_id for r in repo.kept_for_user("u1", Scope.of("g1"), 0, 10)] == ["a" * 32]
    finally:
        db.client.drop_database(name)
        db.close()
