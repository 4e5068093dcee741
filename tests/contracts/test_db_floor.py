"""The shared floor under the repositories: query helpers, the record codec, error translation."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.db.codec import MONGO, SQLITE, STAMP_WIDTH, restamp, stamp, unstamp
from core.errors import ServiceUnavailable
from core.scope import Scope


@dataclass(frozen=True)
class Visit:
    user_id: str
    guild_id: str | None
    at: datetime
    left_at: datetime | None = None
    count: int = 0


def test_a_stamp_is_fixed_width_utc_so_text_order_is_time_order() -> None:
    base = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    moments = [base, base + timedelta(microseconds=1), base + timedelta(seconds=1)]
    moments.append((base + timedelta(hours=3)).astimezone(timezone(timedelta(hours=-5))))
    texts = [stamp(m) for m in moments]
    assert {len(t) for t in texts} == {STAMP_WIDTH}
    assert texts == sorted(texts)
    assert [unstamp(t) for t in texts] == moments


def test_a_naive_datetime_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="naive"):
        stamp(datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="naive"):
        MONGO.time(datetime(2026, 12, 1))


def test_restamp_rewrites_the_older_forms_and_leaves_nulls() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, at, left_at)")
    old = [
        ("2026-01-02T03:04:05+02:00", None),  # another offset, no microseconds
        ("2026-01-02T01:04:05", 1767315845.25),  # naive text (UTC), epoch seconds
        (stamp(datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)), None),  # already canonical
    ]
    conn.executemany("INSERT INTO t (at, left_at) VALUES (?, ?)", old)
    restamp("t", "at", "left_at")(conn)
    rows = conn.execute("SELECT at, left_at FROM t ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["2026-01-02T01:04:05.000000+00:00"] * 3
    assert rows[1][1] == "2026-01-02T01:04:05.250000+00:00"
    assert rows[0][1] is None and rows[2][1] is None


def test_the_sqlite_codec_reads_scope_as_guild_and_round_trips() -> None:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    conn.execute("CREATE TABLE v (user_id, scope, at, left_at, count)")
    visit = Visit("u1", None, datetime(2026, 12, 1, tzinfo=UTC), None, 2)
    stored = SQLITE.encode(visit)
    assert stored["scope"] == "" and stored["at"] == "2026-12-01T00:00:00.000000+00:00"
    conn.execute("INSERT INTO v VALUES (:user_id, :scope, :at, :left_at, :count)", stored)
    row = conn.execute("SELECT * FROM v").fetchone()
    assert SQLITE.decode(Visit, row) == visit
    assert SQLITE.decode(Visit, row, count=7).count == 7


def test_the_mongo_codec_keeps_native_aware_dates() -> None:
    visit = Visit("u1", "g1", datetime(2026, 12, 1, 5, tzinfo=timezone(timedelta(hours=1))))
    stored = MONGO.encode(visit, exclude=("left_at",))
    assert stored["scope"] == "g1" and stored["at"].tzinfo is UTC and "left_at" not in stored
    naive_from_server = {**stored, "at": stored["at"].replace(tzinfo=None)}
    assert MONGO.decode(Visit, naive_from_server).at == visit.at


def test_scope_values_name_global_one_guild_and_every_scope() -> None:
    assert Scope.of(None) is Scope.GLOBAL and Scope.GLOBAL.key == "" and Scope.GLOBAL.is_global
    assert Scope.of(123) == Scope.from_key("123") and Scope.of("123").guild_id == "123"
    assert Scope.EVERY.keys() is None and Scope.of("9").keys() == ("9",)
    assert [str(s) for s in (Scope.GLOBAL, Scope.of("9"), Scope.EVERY)] == [
        "the global scope",
        "guild 9",
        "every scope",
    ]
    with pytest.raises(ValueError):
        Scope.EVERY.key  # noqa: B018 - the property raises
    with pytest.raises(ValueError):
        Scope.of("a/b")


def test_sqlite_query_helpers_fold_the_connection_and_errors(tmp_path) -> None:  # noqa: ANN001
    from core.db.sqlite import SqliteDatabase

    db = SqliteDatabase(tmp_path / "abby.sqlite3")
    assert db.run("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)") in (-1, 0)
    assert db.run_many("INSERT INTO t VALUES (?, ?)", [("a", 1), ("b", 2)]) == 2
    assert db.value("SELECT COUNT(*) FROM t") == 2
    assert db.one("SELECT n FROM t WHERE k = ?", ("b",))["n"] == 2
    assert db.one("SELECT n FROM t WHERE k = ?", ("z",)) is None
    assert [r["k"] for r in db.all("SELECT k FROM t ORDER BY k")] == ["a", "b"]
    assert db.run("UPDATE t SET n = n + 1") == 2
    db.close()


def test_mongo_table_translates_errors_of_calls_and_cursors() -> None:
    from core.db.mongo import MongoDatabase

    # Nothing listens on port 9: every call fails to select a server, within 200 ms.
    db = MongoDatabase("mongodb://127.0.0.1:9/", server_selection_timeout_ms=200)
    table = db.table("t")
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        table.find_one({"_id": 1})
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        list(table.find({}).sort("_id", 1).limit(3))
    db.close()


@pytest.mark.parametrize("backend", ["mongo"], indirect=True)
def test_mongo_table_passes_duplicate_keys_through_and_wraps_cursors(backend) -> None:  # noqa: ANN001
    from pymongo.errors import DuplicateKeyError

    from core.db.mongo import MongoDatabase, scoped_id

    env = backend.env
    db = MongoDatabase(env["ABBY_DATABASE__URI"], name=env["ABBY_DATABASE__NAME"])
    table = db.table("floor")
    table.insert_one({"_id": scoped_id("", "u1"), "n": 1})
    table.insert_one({"_id": scoped_id("g1", "u1"), "n": 2})
    with pytest.raises(DuplicateKeyError):
        table.insert_one({"_id": "/u1"})
    assert [d["n"] for d in table.find({}).sort("n", -1).limit(5)] == [2, 1]
    assert table.count_documents({}) == 2 and table.raw.name == "floor"
    db.close()
