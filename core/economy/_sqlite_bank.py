"""The bank on SQLite: every movement is one BEGIN IMMEDIATE transaction.

Inside it: look up the transfer id (the idempotency table), debit with the guard
`balance >= amount` in the WHERE, credit with the guard `balance <= MAX - amount`, write one
ledger row per side and the transfer row. Any failure rolls everything back, so there is never
anything to recover; a refused keyed transfer is recorded as failed (in its own commit) so a
retry with the same key returns the same outcome. Times are `stamp` text (core.db.codec).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from core.db._sqlite_records import SqlitePortable
from core.db.codec import SQLITE, STAMP_WIDTH, restamp, stamp, unstamp
from core.db.sqlite import Migration, SqliteDatabase
from core.economy.levels import MAX_INT64
from core.economy.repository import (
    AuditReport,
    BankRepository,
    LedgerEntry,
    RecoveryReport,
    Transfer,
    TransferRequest,
)
from core.errors import InsufficientFunds, LimitExceeded
from core.scope import Scope


def _restamp_accounts(conn: sqlite3.Connection) -> None:
    # codec.restamp addresses rows by one key column; an account's key is (scope, user_id).
    rows = conn.execute(
        "SELECT scope, user_id, updated_at FROM bank_accounts WHERE typeof(updated_at) != 'text'"
        " OR length(updated_at) != ? OR substr(updated_at, -6) != '+00:00'",
        (STAMP_WIDTH,),
    ).fetchall()
    conn.executemany(
        "UPDATE bank_accounts SET updated_at = ? WHERE scope = ? AND user_id = ?",
        [
            (stamp(moment), scope, user)
            for scope, user, at in rows
            if (moment := unstamp(at)) is not None  # the column is NOT NULL: always
        ],
    )


MIGRATIONS = (
    Migration(
        "bank_0001_create",
        # Few indexes on purpose: every b-tree a transfer touches is pages written per commit.
        # Exactly-once comes from the transfer id's primary key inside the one transaction.
        """
        CREATE TABLE bank_accounts (
            scope TEXT NOT NULL,
            user_id TEXT NOT NULL,
            balance INTEGER NOT NULL CHECK (balance >= 0),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (scope, user_id)
        ) WITHOUT ROWID;
        CREATE TABLE bank_transfers (
            transfer_id TEXT PRIMARY KEY,
            scope TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('transfer', 'mint', 'burn')),
            from_user TEXT,
            to_user TEXT,
            amount INTEGER NOT NULL CHECK (amount > 0),
            status TEXT NOT NULL CHECK (status IN ('done', 'failed', 'pending')),
            reason TEXT,
            keyed INTEGER NOT NULL,
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE bank_ledger (
            seq INTEGER PRIMARY KEY,
            transfer_id TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('debit', 'credit')),
            scope TEXT NOT NULL,
            user_id TEXT NOT NULL,
            amount INTEGER NOT NULL,
            balance_after INTEGER,
            counterparty TEXT,
            reason TEXT,
            at TEXT NOT NULL
        );
        CREATE INDEX bank_ledger_account ON bank_ledger (scope, user_id, seq);
        """,
    ),
    Migration(
        "bank_0002_balance_top",
        # The balance leaderboard reads a scope's accounts in this order off the index. It
        # costs every movement one more b-tree write per account touched (measured by
        # scripts/bench_bank.py: the transfer rate with and without it).
        "CREATE INDEX bank_accounts_top ON bank_accounts (scope, balance DESC, user_id);",
    ),
    # Times were `isoformat()` text of varying width; now fixed-width UTC stamps.
    Migration("bank_0003_utc_stamps_accounts", _restamp_accounts),
    Migration(
        "bank_0004_utc_stamps_transfers",
        restamp("bank_transfers", "created_at", key="transfer_id"),
    ),
    Migration("bank_0005_utc_stamps_ledger", restamp("bank_ledger", "at", key="seq")),
)

_DEBIT = """
UPDATE bank_accounts SET balance = balance - :amount, updated_at = :now
WHERE scope = :scope AND user_id = :user_id AND balance >= :amount
RETURNING balance
"""
_CREDIT = f"""
INSERT INTO bank_accounts (scope, user_id, balance, updated_at)
VALUES (:scope, :user_id, :amount, :now)
ON CONFLICT (scope, user_id) DO UPDATE SET
    balance = balance + excluded.balance, updated_at = excluded.updated_at
WHERE balance <= {MAX_INT64} - excluded.balance
RETURNING balance
"""
_LEDGER = """
INSERT INTO bank_ledger
    (transfer_id, side, scope, user_id, amount, balance_after, counterparty, reason, at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_LEDGER_PAIR = _LEDGER.strip() + ", (?, ?, ?, ?, ?, ?, ?, ?, ?)"
# Claims the transfer id first: a second call with the same id inserts nothing (a replay).
_TRANSFER = """
INSERT INTO bank_transfers
    (transfer_id, scope, kind, from_user, to_user, amount, status, reason, keyed, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (transfer_id) DO NOTHING
"""


class SqliteBankRepository(BankRepository, SqlitePortable):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    def balance(self, user_id: str, scope: Scope) -> int | None:
        balance: int | None = self._db.value(
            "SELECT balance FROM bank_accounts WHERE scope = ? AND user_id = ?",
            (scope.key, user_id),
        )
        return balance

    def apply(self, request: TransferRequest) -> Transfer:
        r = request
        at = SQLITE.time(r.now)
        refused = False
        with self._db.transaction() as conn:
            if conn.execute(_TRANSFER, self._row(r, "done")).rowcount == 0:
                row = conn.execute(
                    "SELECT * FROM bank_transfers WHERE transfer_id = ?", (r.transfer_id,)
                ).fetchone()
                existing = SQLITE.decode(Transfer, row, replayed=True)
                self.check_same(existing, r)
                if existing.status == "failed":
                    raise InsufficientFunds(
                        f"transfer {r.transfer_id} already failed (insufficient funds); "
                        "retry with a new key",
                        replayed=True,
                    )
                return existing
            after_debit = after_credit = None
            account = {"amount": r.amount, "now": at, "scope": r.scope.key}
            if r.from_user is not None:
                rows = conn.execute(_DEBIT, {**account, "user_id": r.from_user}).fetchall()
                if not rows:
                    if not r.keyed:
                        raise self._insufficient(r)  # rolls back: nothing was written
                    # A keyed refusal is kept (and committed) so a retry gets the same answer.
                    conn.execute(
                        "UPDATE bank_transfers SET status = 'failed' WHERE transfer_id = ?",
                        (r.transfer_id,),
                    )
                    refused = True
                else:
                    after_debit = rows[0][0]
            if not refused and r.to_user is not None:
                rows = conn.execute(_CREDIT, {**account, "user_id": r.to_user}).fetchall()
                if not rows:
                    # Raising rolls back the debit too.
                    raise LimitExceeded(
                        f"refused: {r.to_user}'s balance would pass the maximum {MAX_INT64}"
                    )
                after_credit = rows[0][0]
            if not refused:
                debit = (r.transfer_id, "debit", r.scope.key, r.from_user, -r.amount, after_debit,
                         r.to_user, r.reason, at)  # fmt: skip
                credit = (r.transfer_id, "credit", r.scope.key, r.to_user, r.amount, after_credit,
                          r.from_user, r.reason, at)  # fmt: skip
                if r.from_user is not None and r.to_user is not None:
                    conn.execute(_LEDGER_PAIR, debit + credit)
                else:
                    conn.execute(_LEDGER, debit if r.from_user is not None else credit)
        if refused:
            raise self._insufficient(r)
        return Transfer(
            transfer_id=r.transfer_id,
            guild_id=r.scope.guild_id,
            kind=r.kind,
            from_user=r.from_user,
            to_user=r.to_user,
            amount=r.amount,
            status="done",
            reason=r.reason,
            created_at=r.now,
            balance_after=after_debit if r.from_user is not None else after_credit,
        )

    @staticmethod
    def _insufficient(r: TransferRequest) -> InsufficientFunds:
        return InsufficientFunds(f"{r.from_user} has less than {r.amount} in {r.scope.display}")

    @staticmethod
    def _row(r: TransferRequest, status: str) -> tuple[object, ...]:
        return (
            r.transfer_id, r.scope.key, r.kind, r.from_user, r.to_user, r.amount, status,
            r.reason, int(r.keyed), SQLITE.time(r.now),
        )  # fmt: skip

    def history(self, user_id: str, scope: Scope, limit: int, offset: int = 0) -> list[LedgerEntry]:
        rows = self._db.all(
            "SELECT * FROM bank_ledger WHERE scope = ? AND user_id = ?"
            " ORDER BY seq DESC LIMIT ? OFFSET ?",
            (scope.key, user_id, limit, offset),
        )
        return [SQLITE.decode(LedgerEntry, row) for row in rows]

    def top(self, scope: Scope, limit: int, offset: int = 0) -> list[tuple[str, int]]:
        rows = self._db.all(
            "SELECT user_id, balance FROM bank_accounts WHERE scope = ? AND balance > 0"
            " ORDER BY balance DESC, user_id LIMIT ? OFFSET ?",
            (scope.key, limit, offset),
        )
        return [(row[0], row[1]) for row in rows]

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        row = self._db.one("SELECT * FROM bank_transfers WHERE transfer_id = ?", (transfer_id,))
        return None if row is None else SQLITE.decode(Transfer, row)

    def audit(self, scope: Scope) -> AuditReport:
        from core.economy._audit import Books

        books = Books()
        keys = scope.keys()
        where, params = ("", ()) if keys is None else ("WHERE scope = ?", keys)
        # One read transaction, so the figures are a consistent snapshot; sums in Python
        # because SQLite's SUM() raises on int64 overflow.
        with self._db.errors(), self._snapshot() as conn:
            for row in conn.execute(
                f"SELECT scope, user_id, balance FROM bank_accounts {where}", params
            ):
                books.account(row[0], row[1], row[2])
            for row in conn.execute(
                f"SELECT scope, transfer_id, kind, amount, status FROM bank_transfers {where}",
                params,
            ):
                books.transfer(row[0], row[1], row[2], row[3], row[4])
            for row in conn.execute(
                f"SELECT scope, transfer_id, side, user_id, amount FROM bank_ledger {where}",
                params,
            ):
                books.ledger(row[0], row[1], row[2], row[3], row[4])
        return books.report()

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        # A deferred BEGIN reads a consistent snapshot without taking the write lock.
        conn = self._db.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def recover(self, older_than: datetime, *, dry_run: bool = False) -> RecoveryReport:
        # Each movement is one transaction: nothing can be left half-done.
        return RecoveryReport(
            rolled_forward=0, rolled_back=0, markers_cleared=0, pending_left=0, dry_run=dry_run
        )

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def member_balances(self, user_id: str) -> list[tuple[str, int]]:
        rows = self._db.all(
            "SELECT scope, balance FROM bank_accounts WHERE user_id = ? ORDER BY scope", (user_id,)
        )
        return [(row[0], row[1]) for row in rows]

    def pseudonymise_member(self, user_id: str, scope: str, pseudonym: str) -> int:
        names = {"scope": scope, "user_id": user_id, "pseudonym": pseudonym}
        changed = 0
        # One transaction: the account and its ledger move together, so an audit never sees
        # an account whose entries went elsewhere.
        with self._db.transaction() as conn:
            for statement in _PSEUDONYMISE:
                changed += conn.execute(statement, names).rowcount
        return changed


# A member's erasure: every place the bank names a user, in one scope.
_PSEUDONYMISE = tuple(
    f"UPDATE {table} SET {column} = :pseudonym WHERE scope = :scope AND {column} = :user_id"
    for table, column in (
        ("bank_accounts", "user_id"),
        ("bank_ledger", "user_id"),
        ("bank_ledger", "counterparty"),
        ("bank_transfers", "from_user"),
        ("bank_transfers", "to_user"),
    )
)
