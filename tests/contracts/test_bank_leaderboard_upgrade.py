"""A bank created before the balance leaderboard (schema of the first release) upgrades in
place: the index appears, old accounts rank, and the query reads the index."""

from __future__ import annotations

import uuid
from pathlib import Path

from bson.int64 import Int64

from core.db.mongo import MongoDatabase
from core.db.sqlite import SqliteDatabase
from core.economy import _mongo_bank, _sqlite_bank
from core.scope import Scope


def test_a_first_release_sqlite_bank_gains_the_leaderboard_index(tmp_path: Path) -> None:
    old = SqliteDatabase(tmp_path / "abby.db")
    old.migrate(_sqlite_bank.MIGRATIONS[:1])  # the oldest shape
    with old.transaction() as conn:
        conn.executemany(
            "INSERT INTO bank_accounts (scope, user_id, balance, updated_at) VALUES (?, ?, ?, ?)",
            [("g", "a", 5, "2026-01-01"), ("g", "b", 50, "2026-01-01")],
        )
    old.close()
    db = SqliteDatabase(tmp_path / "abby.db")
    repo = _sqlite_bank.SqliteBankRepository(db)
    assert repo.top(Scope.of("g"), 10) == [("b", 50), ("a", 5)]
    plan = " ".join(
        str(row[3])
        for row in db.connection().execute(
            "EXPLAIN QUERY PLAN SELECT user_id, balance FROM bank_accounts"
            " WHERE scope = ? AND balance > 0 ORDER BY balance DESC, user_id LIMIT 10",
            ("g",),
        )
    )
    assert "bank_accounts_top" in plan and "TEMP B-TREE" not in plan, plan
    history_plan = " ".join(
        str(row[3])
        for row in db.connection().execute(
            "EXPLAIN QUERY PLAN SELECT * FROM bank_ledger WHERE scope = ? AND user_id = ?"
            " ORDER BY seq DESC LIMIT 10 OFFSET 10",
            ("g", "a"),
        )
    )
    assert "bank_ledger_account" in history_plan and "TEMP B-TREE" not in history_plan
    db.close()


def test_a_version_one_mongo_bank_gains_the_leaderboard_index(mongo_uri: str) -> None:
    name = f"t{uuid.uuid4().hex[:16]}"
    db = MongoDatabase(mongo_uri, name=name)
    try:
        db.db["schema_versions"].insert_one({"_id": "bank", "version": 1})
        db.db[_mongo_bank.ACCOUNTS].insert_many(
            [
                {"_id": "g/a", "scope": "g", "user_id": "a", "balance": Int64(5)},
                {"_id": "g/b", "scope": "g", "user_id": "b", "balance": Int64(50)},
            ]
        )
        repo = _mongo_bank.MongoBankRepository(db)
        assert "scope_balance" in db.db[_mongo_bank.ACCOUNTS].index_information()
        assert db.schema_versions()["bank"] == _mongo_bank.SCHEMA_VERSION
        assert repo.top(Scope.of("g"), 10) == [("b", 50), ("a", 5)]
    finally:
        db.client.drop_database(name)
        db.close()
