"""Economy stores written before one timestamp codec per backend (#10) open and migrate forward.

The rows and documents below are written with plain sqlite3 / pymongo in the shapes the code
before the change wrote (`isoformat()` text of any width and offset on SQLite, message grants'
`updated_at` as epoch seconds on MongoDB); opened by today's repositories, every field survives
and the times read back as the same instants, now in one form.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from bson.int64 import Int64

from core.db.codec import STAMP_WIDTH, unstamp
from core.db.mongo import MongoDatabase
from core.db.sqlite import SqliteDatabase
from core.economy import _mongo_bank, _mongo_xp, _sqlite_bank, _sqlite_xp
from core.scope import Scope

G = Scope.of("g")
# The old forms: isoformat() of an aware UTC time with and without microseconds, another
# offset, naive text (written as UTC), the records copy's milliseconds, a bare date.
OLD_TIMES = (
    "2026-03-01T10:00:00+00:00",
    "2026-03-01T10:00:00.250000+00:00",
    "2026-03-01T12:00:00.5+02:00",
    "2026-03-01T10:00:00.750000",
    "2026-03-01T10:00:01.123+00:00",
    "2026-03-01",
)


def _old_sqlite(path: Path) -> None:
    """The schema of the released migrations, rows written as the old code wrote them."""
    db = SqliteDatabase(path)
    db.migrate(_sqlite_xp.MIGRATIONS[:2])
    db.migrate(_sqlite_bank.MIGRATIONS[:2])
    db.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO xp (scope, user_id, xp, prev_xp, last_grant_at, updated_at)"
        " VALUES ('g', 'a', 120, 100, 1772359200.5, 1772359200.5)"
    )
    conn.execute(
        "INSERT INTO xp_level_pending (scope, user_id, level, changed_at)"
        " VALUES ('g', 'a', 2, 1772359200.25)"
    )
    for n, at in enumerate(OLD_TIMES):
        conn.execute(
            "INSERT INTO xp_settings (scope, settings, updated_at) VALUES (?, ?, ?)",
            (f"s{n}", '{"min_grant": 5}', at),
        )
        tid = f"t{n}"
        conn.execute(
            "INSERT INTO bank_transfers (transfer_id, scope, kind, from_user, to_user, amount,"
            " status, reason, keyed, created_at) VALUES (?, 'g', 'mint', NULL, ?, 10, 'done',"
            " 'gift', 1, ?)",
            (tid, f"u{n}", at),
        )
        conn.execute(
            "INSERT INTO bank_ledger (transfer_id, side, scope, user_id, amount, balance_after,"
            " counterparty, reason, at) VALUES (?, 'credit', 'g', ?, 10, 10, NULL, 'gift', ?)",
            (tid, f"u{n}", at),
        )
        conn.execute(
            "INSERT INTO bank_accounts (scope, user_id, balance, updated_at)"
            " VALUES ('g', ?, 10, ?)",
            (f"u{n}", at),
        )
    conn.execute("COMMIT")
    conn.close()


def _instant(text: str) -> datetime:
    moment = unstamp(text)
    assert moment is not None
    return moment


def test_an_sqlite_economy_written_before_the_codec_migrates_every_time_to_stamps(
    tmp_path: Path,
) -> None:
    path = tmp_path / "abby.db"
    _old_sqlite(path)
    db = SqliteDatabase(path)
    xp = _sqlite_xp.SqliteXpRepository(db)
    bank = _sqlite_bank.SqliteBankRepository(db)
    try:
        # Nothing else changed: XP, its REAL epoch columns, the pending mark, the settings.
        assert xp.get("a", G) == 120
        row = db.one("SELECT prev_xp, last_grant_at, updated_at FROM xp WHERE user_id = 'a'")
        assert tuple(row) == (100, 1772359200.5, 1772359200.5)  # type: ignore[arg-type]
        [mark] = xp.pending_levels([G], 10)
        assert (mark.user_id, mark.scope, mark.level, mark.changed_at) == ("a", G, 2, 1772359200.25)
        for n, old in enumerate(OLD_TIMES):
            assert xp.get_settings(Scope.of(f"s{n}")) == {"min_grant": 5}
            expected = _instant(old)
            transfer = bank.get_transfer(f"t{n}")
            assert transfer is not None
            assert transfer.created_at == expected and transfer.created_at.tzinfo is not None
            assert (transfer.kind, transfer.to_user, transfer.amount, transfer.status) == (
                "mint", f"u{n}", 10, "done",
            )  # fmt: skip
            assert (transfer.guild_id, transfer.reason) == ("g", "gift")
            [entry] = bank.history(f"u{n}", G, 10)
            assert (entry.amount, entry.balance_after, entry.reason, entry.at) == (
                10, 10, "gift", expected,
            )  # fmt: skip
            assert bank.balance(f"u{n}", G) == 10
        for table, column in (
            ("xp_settings", "updated_at"),
            ("bank_transfers", "created_at"),
            ("bank_ledger", "at"),
            ("bank_accounts", "updated_at"),
        ):
            stored = [r[0] for r in db.all(f"SELECT {column} FROM {table} ORDER BY 1")]
            assert len(stored) == len(OLD_TIMES)
            assert all(len(s) == STAMP_WIDTH and s.endswith("+00:00") for s in stored), stored
            assert sorted(stored) == sorted(_instant(t).isoformat("T", "microseconds")
                                            for t in OLD_TIMES)  # fmt: skip
        assert bank.audit(Scope.EVERY).ok
    finally:
        db.close()


def test_new_sqlite_economy_rows_are_written_as_stamps(tmp_path: Path) -> None:
    from core.economy.repository import TransferRequest

    db = SqliteDatabase(tmp_path / "abby.db")
    xp = _sqlite_xp.SqliteXpRepository(db)
    bank = _sqlite_bank.SqliteBankRepository(db)
    # A whole second in another zone: isoformat() would have written 25 characters, +01:00.
    now = datetime(2026, 3, 1, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    xp.set_settings(G, {"curve": "power"}, now)
    bank.apply(TransferRequest("k1", G, "mint", None, "a", 5, None, True, now))
    try:
        for table, column in (
            ("xp_settings", "updated_at"),
            ("bank_transfers", "created_at"),
            ("bank_ledger", "at"),
            ("bank_accounts", "updated_at"),
        ):
            assert db.value(f"SELECT {column} FROM {table}") == "2026-03-01T10:00:00.000000+00:00"
    finally:
        db.close()


def test_a_mongo_xp_store_with_epoch_grant_times_migrates_them_to_dates(mongo_uri: str) -> None:
    name = f"t{uuid.uuid4().hex[:16]}"
    db = MongoDatabase(mongo_uri, name=name)
    added = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    try:
        # Version 2, as the old code left it: a message grant wrote updated_at as epoch seconds
        # (the grant's own clock), a correction wrote a date.
        db.db["schema_versions"].insert_one({"_id": "xp", "version": 2})
        db.db[_mongo_xp.XP].insert_many(
            [
                {"_id": "g/a", "scope": "g", "user_id": "a", "xp": Int64(40), "prev_xp": Int64(20),
                 "last_grant_at": 1772359200.5, "updated_at": 1772359200.5},
                {"_id": "g/b", "scope": "g", "user_id": "b", "xp": Int64(7), "prev_xp": Int64(0),
                 "updated_at": added},
            ]
        )  # fmt: skip
        db.db[_mongo_xp.PENDING].insert_one(
            {"_id": "g/a", "scope": "g", "user_id": "a", "level": 1, "changed_at": 1772359200.25}
        )
        repo = _mongo_xp.MongoXpRepository(db)
        assert db.schema_versions()["xp"] == _mongo_xp.SCHEMA_VERSION
        a = db.db[_mongo_xp.XP].find_one({"_id": "g/a"})
        b = db.db[_mongo_xp.XP].find_one({"_id": "g/b"})
        assert a is not None and b is not None
        assert a["updated_at"] == datetime.fromtimestamp(1772359200.5, UTC)
        assert (a["xp"], a["prev_xp"], a["last_grant_at"]) == (40, 20, 1772359200.5)
        assert b["updated_at"] == added and b["xp"] == 7
        assert repo.get("a", G) == 40 and repo.rank("a", G, 40) == 1
        [mark] = repo.pending_levels([G], 10)
        assert (mark.user_id, mark.level, mark.changed_at) == ("a", 1, 1772359200.25)
        # New grants write a date too; the cooldown still compares epoch seconds.
        assert repo.grant_if_cooled("c", G, 5, 1772359300.0, 60.0) == (0, 5)
        assert repo.grant_if_cooled("c", G, 5, 1772359330.0, 60.0) is None
        c = db.db[_mongo_xp.XP].find_one({"_id": "g/c"})
        assert c is not None and c["updated_at"] == datetime.fromtimestamp(1772359300.0, UTC)
    finally:
        db.client.drop_database(name)
        db.close()


def test_a_mongo_bank_written_before_the_change_reads_the_same(mongo_uri: str) -> None:
    """Bank documents already used native dates and `_id` = "scope/user": no data change."""
    name = f"t{uuid.uuid4().hex[:16]}"
    db = MongoDatabase(mongo_uri, name=name)
    at = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    try:
        db.db["schema_versions"].insert_one({"_id": "bank", "version": 2})
        db.db[_mongo_bank.TRANSFERS].insert_one(
            {"_id": "t1", "scope": "g", "kind": "mint", "from_user": None, "to_user": "a",
             "amount": Int64(10), "status": "done", "reason": "gift", "keyed": True,
             "created_at": at, "updated_at": at}
        )  # fmt: skip
        db.db[_mongo_bank.LEDGER].insert_one(
            {"_id": "t1/credit", "transfer_id": "t1", "side": "credit", "scope": "g",
             "user_id": "a", "amount": Int64(10), "balance_after": Int64(10),
             "counterparty": None, "reason": "gift", "at": at}
        )  # fmt: skip
        db.db[_mongo_bank.ACCOUNTS].insert_one(
            {"_id": "g/a", "scope": "g", "user_id": "a", "balance": Int64(10), "pending": []}
        )
        repo = _mongo_bank.MongoBankRepository(db)
        transfer = repo.get_transfer("t1")
        assert transfer is not None
        assert (transfer.guild_id, transfer.to_user, transfer.amount, transfer.created_at) == (
            "g", "a", 10, at,
        )  # fmt: skip
        [entry] = repo.history("a", G, 10)
        assert (entry.transfer_id, entry.amount, entry.balance_after, entry.at) == (
            "t1",
            10,
            10,
            at,
        )
        assert repo.balance("a", G) == 10
        assert repo.audit(Scope.EVERY).ok and repo.audit(G).ok
    finally:
        db.client.drop_database(name)
        db.close()
