"""Stores written before the UTC stamps (#10) open forward without loss.

SQLite: RAG document records and per-guild bot settings held `isoformat()` text of any
width (no microseconds when they were zero, another offset when a clock gave one); the
`*_utc_stamps` migrations rewrite them in the one fixed-width UTC form, and every record
reads back as the same instant. MongoDB: the same shapes, written with plain pymongo as the
code before #10 wrote them, read back unchanged (times are native dates there already).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from core.db.codec import STAMP_WIDTH
from core.db.mongo import MongoDatabase
from core.db.sqlite import SqliteDatabase
from core.moderation import _mongo as moderation_mongo
from core.moderation import _sqlite as moderation_sqlite
from core.rag import _mongo as rag_mongo
from core.rag import _sqlite as rag_sqlite
from core.scope import Scope

WHOLE_SECOND = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)  # isoformat() drops the microseconds
PARIS = timezone(timedelta(hours=1))
OTHER_OFFSET = datetime(2026, 3, 2, 10, 15, 0, 250000, tzinfo=PARIS)  # 09:15:00.25 UTC
# (doc_id, scope, source, user_id, tags, ingested_at as the old code wrote it, state)
OLD_DOCUMENTS = [
    ("d1", "g1", "/docs/a.md", "u1", ["x"], WHOLE_SECOND.isoformat(), "ready"),
    ("d2", "", "/docs/b.md", None, [], OTHER_OFFSET.isoformat(), "pending"),
    ("d3", "g2", "/docs/c.md", "u2", ["y", "z"], "2026-03-03T08:00:00.123456", "ready"),
]
EXPECTED_TIMES = {
    "d1": WHOLE_SECOND,
    "d2": datetime(2026, 3, 2, 9, 15, 0, 250000, tzinfo=UTC),
    "d3": datetime(2026, 3, 3, 8, 0, 0, 123456, tzinfo=UTC),  # naive text was written as UTC
}


# BSON dates hold milliseconds: what MongoDB keeps of each instant.
MONGO_TIMES = {
    k: v.replace(microsecond=v.microsecond // 1000 * 1000) for k, v in EXPECTED_TIMES.items()
}


def _old_sqlite(path: Path) -> None:
    """The schema and rows of the code before #10 (migrations 0001/0002 only)."""
    db = SqliteDatabase(path)
    db.migrate(rag_sqlite.MIGRATIONS[:2])
    db.migrate(moderation_sqlite.MIGRATIONS[:1])
    db.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO rag_documents (doc_id, scope, title, source, user_id, tags,"
            " content_hash, chunk_count, ingested_at, embedding_model, state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 2, ?, 'all-MiniLM-L6-v2', ?)",
            [
                (
                    doc_id,
                    scope,
                    f"T {doc_id}",
                    source,
                    user,
                    json.dumps(tags),
                    "c3-" + doc_id,
                    at,
                    st,
                )
                for doc_id, scope, source, user, tags, at, st in OLD_DOCUMENTS
            ],
        )
        conn.execute(
            "INSERT INTO bot_guild_settings (guild_id, settings, updated_at) VALUES (?, ?, ?)",
            ("g1", json.dumps({"admin_role_ids": ["42"]}), WHOLE_SECOND.isoformat()),
        )
    conn.close()


def test_old_sqlite_times_are_restamped_and_read_back_as_the_same_instants(
    tmp_path: Path,
) -> None:
    _old_sqlite(tmp_path / "abby.db")
    db = SqliteDatabase(tmp_path / "abby.db")
    documents = rag_sqlite.SqliteDocumentRepository(db)
    settings = moderation_sqlite.SqliteGuildSettingsRepository(db)
    assert {"rag_0003_utc_stamps", "moderation_0002_utc_stamps"} <= db.applied_migrations()

    records = {r.doc_id: r for r in documents.find()}
    assert {doc_id: r.ingested_at for doc_id, r in records.items()} == EXPECTED_TIMES
    assert all(r.ingested_at.tzinfo is not None for r in records.values())
    assert records["d2"].guild_id is None and records["d2"].state == "pending"
    assert records["d3"].tags == ("y", "z") and records["d3"].user_id == "u2"
    assert [r.doc_id for r in documents.find(scopes=[Scope.of("g1"), Scope.GLOBAL])] == [
        "d1",
        "d2",
    ]
    assert settings.get("g1") == {"admin_role_ids": ["42"]}

    stored = [
        row[0]
        for row in db.connection().execute(
            "SELECT ingested_at FROM rag_documents UNION ALL"
            " SELECT updated_at FROM bot_guild_settings"
        )
    ]
    assert len(stored) == 4
    assert all(len(text) == STAMP_WIDTH and text.endswith("+00:00") for text in stored), stored
    db.close()


def test_new_sqlite_rows_are_stamped_fixed_width_utc(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "abby.db")
    settings = moderation_sqlite.SqliteGuildSettingsRepository(db)
    settings.put("g9", {"moderator_role_ids": ["7"]}, OTHER_OFFSET)
    stored = db.value("SELECT updated_at FROM bot_guild_settings WHERE guild_id = 'g9'")
    assert stored == "2026-03-02T09:15:00.250000+00:00"
    db.close()


def test_old_mongo_documents_and_settings_read_back_unchanged(mongo_uri: str) -> None:
    name = f"t{uuid.uuid4().hex[:16]}"
    db = MongoDatabase(mongo_uri, name=name)
    try:
        db.db["schema_versions"].insert_many(
            [{"_id": "rag", "version": 2}, {"_id": "moderation", "version": 1}]
        )
        db.db[rag_mongo.COLLECTION].insert_many(
            [
                {
                    "_id": doc_id, "scope": scope, "title": f"T {doc_id}", "source": source,
                    "user_id": user, "tags": tags, "content_hash": "c3-" + doc_id,
                    "chunk_count": 2, "ingested_at": EXPECTED_TIMES[doc_id],
                    "embedding_model": "all-MiniLM-L6-v2", "state": state,
                }
                for doc_id, scope, source, user, tags, _, state in OLD_DOCUMENTS
            ]
        )  # fmt: skip
        db.db[moderation_mongo.SETTINGS].insert_one(
            {"_id": "g1", "settings": {"admin_role_ids": ["42"]}, "updated_at": WHOLE_SECOND}
        )
        documents = rag_mongo.MongoDocumentRepository(db)
        settings = moderation_mongo.MongoGuildSettingsRepository(db)

        records = {r.doc_id: r for r in documents.find()}
        assert {doc_id: r.ingested_at for doc_id, r in records.items()} == MONGO_TIMES
        assert records["d2"].guild_id is None and records["d2"].state == "pending"
        assert records["d3"].tags == ("y", "z") and records["d3"].user_id == "u2"
        assert [r.doc_id for r in documents.find(scopes=[Scope.of("g1"), Scope.GLOBAL])] == [
            "d1",
            "d2",
        ]
        assert settings.get("g1") == {"admin_role_ids": ["42"]}
        settings.put("g1", {"admin_role_ids": ["43"]}, OTHER_OFFSET)
        doc = db.db[moderation_mongo.SETTINGS].find_one({"_id": "g1"})
        assert doc is not None and doc["updated_at"] == MONGO_TIMES["d2"]
    finally:
        db.client.drop_database(name)
        db.close()
