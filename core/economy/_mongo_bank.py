"""The bank on MongoDB, without multi-document transactions (a standalone server has none).

A movement is a small state machine driven by its transfer document (`_id` = the transfer id,
which is the idempotency key when the caller gave one):

1. insert the transfer, status "pending" (a duplicate `_id` = a retry, or a conflicting key);
2. debit the payer: `balance >= amount` and `pending != tid` in the filter, `$inc` and
   `$push: {pending: tid}` in the update — the tid left on the account proves the debit
   happened and stops it from happening twice;
3. credit the payee the same way (guarded by `balance <= 2^63-1 - amount` and the tid);
4. write one ledger entry per side (`_id` = "tid/side": written at most once);
5. mark the transfer "done", then pull the tid from both accounts.

`recover()` (run when the bank opens and by `abby bank recover`) takes transfers still pending
after the grace period, whose process must have died: when the payer's account carries the tid
the debit happened and the movement is rolled forward (credit, ledger, done); otherwise the
debit never happened (or was refunded) and it is rolled back (status failed). Every step is
idempotent, so a crash during recovery is recovered the same way. Only one driver acts on a
movement at a time: its own process, or recovery after the grace period.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from bson.int64 import Int64
from pymongo import DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.db._mongo_records import MongoPortable
from core.db.codec import MONGO
from core.db.mongo import MongoDatabase, scoped_id
from core.economy._audit import Books
from core.economy.levels import MAX_INT64
from core.economy.repository import (
    AuditReport,
    BankRepository,
    LedgerEntry,
    RecoveryReport,
    RecoveryStep,
    Transfer,
    TransferRequest,
)
from core.errors import InsufficientFunds, InvalidAmount, LimitExceeded, ServiceUnavailable
from core.scope import Scope

SCHEMA_VERSION = 2  # 2: the balance leaderboard index
ACCOUNTS = "bank_accounts"
TRANSFERS = "bank_transfers"
LEDGER = "bank_ledger"
# How long a retry waits for the same key's transfer that another process is still applying.
_REPLAY_WAIT_SECONDS = 5.0


def _setup(db: Database) -> None:
    db[ACCOUNTS].create_index([("scope", 1), ("user_id", 1)], name="scope_user")
    db[ACCOUNTS].create_index([("pending", 1)], name="pending", sparse=True)
    db[TRANSFERS].create_index([("status", 1), ("updated_at", 1)], name="status_updated")
    db[TRANSFERS].create_index([("scope", 1), ("kind", 1)], name="scope_kind")
    db[LEDGER].create_index(
        [("scope", 1), ("user_id", 1), ("at", DESCENDING), ("_id", DESCENDING)], name="account"
    )
    db[ACCOUNTS].create_index(
        [("scope", 1), ("balance", DESCENDING), ("user_id", 1)], name="scope_balance"
    )


def _transfer(doc: dict[str, Any], *, replayed: bool = False) -> Transfer:
    # The transfer id is the `_id`; amounts are Int64.
    return MONGO.decode(
        Transfer,
        {"from_user": None, "to_user": None, "reason": None, **doc},
        transfer_id=doc["_id"],
        amount=int(doc["amount"]),
        replayed=replayed,
    )


class _Refused(Exception):
    """Internal: the debit's guard refused (insufficient funds)."""


class _OverCap(Exception):
    """Internal: the credit would pass 2^63-1."""


class MongoBankRepository(BankRepository, MongoPortable):
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._accounts = db.table(ACCOUNTS)
        self._transfers = db.table(TRANSFERS)
        self._ledger = db.table(LEDGER)
        db.ensure("bank", SCHEMA_VERSION, _setup)

    def balance(self, user_id: str, scope: Scope) -> int | None:
        doc = self._accounts.find_one({"_id": scoped_id(scope.key, user_id)}, {"balance": 1})
        return None if doc is None else int(doc["balance"])

    # --- applying a movement ------------------------------------------------------------

    def apply(self, request: TransferRequest) -> Transfer:
        r = request
        doc = {
            "_id": r.transfer_id,
            "scope": r.scope.key,
            "kind": r.kind,
            "from_user": r.from_user,
            "to_user": r.to_user,
            "amount": Int64(r.amount),
            "status": "pending",
            "reason": r.reason,
            "keyed": r.keyed,
            "created_at": MONGO.time(r.now),
            "updated_at": MONGO.time(r.now),
        }
        try:
            self._transfers.insert_one(doc)
        except DuplicateKeyError:
            return self._replay(r)
        return self._drive(doc, fresh=True)

    def _replay(self, r: TransferRequest) -> Transfer:
        deadline = time.monotonic() + _REPLAY_WAIT_SECONDS
        while True:
            existing = self._transfers.find_one({"_id": r.transfer_id})
            if existing is None:  # a keyless failure was removed; cannot happen for keys
                raise ServiceUnavailable(f"transfer {r.transfer_id} vanished; retry")
            found = _transfer(existing, replayed=True)
            self.check_same(found, r)
            if found.status == "done":
                return found
            if found.status == "failed":
                raise InsufficientFunds(
                    f"transfer {r.transfer_id} already failed; retry with a new key",
                    replayed=True,
                )
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"transfer {r.transfer_id} is still being applied by another process; "
                    "retry later (abby bank recover finishes it if that process died)"
                )
            time.sleep(0.05)

    def _drive(self, doc: dict[str, Any], *, fresh: bool) -> Transfer:
        """Take a pending movement to done (or failed). `fresh` = we just inserted it, so
        nothing has been applied yet; otherwise (recovery) each step checks its marker."""
        tid, scope, amount = doc["_id"], doc["scope"], int(doc["amount"])
        payer, payee = doc.get("from_user"), doc.get("to_user")
        after_debit = after_credit = None
        try:
            if payer is not None:
                after_debit = self._debit(tid, scope, payer, amount, fresh=fresh)
                self._write_ledger(doc, "debit", after_debit)
            if payee is not None:
                try:
                    after_credit = self._credit(tid, scope, payee, amount, fresh=fresh)
                except _OverCap:
                    if payer is not None:
                        self._refund(tid, scope, payer, amount)
                    self._fail(doc)
                    raise LimitExceeded(
                        f"refused: {payee}'s balance would pass the maximum {MAX_INT64}"
                    ) from None
                self._write_ledger(doc, "credit", after_credit)
        except _Refused:
            self._fail(doc)
            raise InsufficientFunds(
                f"{payer} has less than {amount} in {Scope.from_key(scope).display}"
            ) from None
        now = doc["updated_at"] if fresh else datetime.now(doc["updated_at"].tzinfo)
        self._transfers.update_one(
            {"_id": tid, "status": "pending"}, {"$set": {"status": "done", "updated_at": now}}
        )
        for user in (payer, payee):
            if user is not None:
                self._accounts.update_one(
                    {"_id": scoped_id(scope, user)}, {"$pull": {"pending": tid}}
                )
        done = _transfer({**doc, "status": "done"})
        return Transfer(
            **{
                **done.__dict__,
                "balance_after": after_debit if payer is not None else after_credit,
            }
        )

    def _has_marker(self, scope: str, user_id: str, tid: str) -> bool:
        return bool(
            self._accounts.count_documents({"_id": scoped_id(scope, user_id), "pending": tid})
        )

    def _debit(self, tid: str, scope: str, user_id: str, amount: int, *, fresh: bool) -> int | None:
        if not fresh:
            return None  # recovery drives only movements whose debit is proven by its marker
        after = self._accounts.find_one_and_update(
            {
                "_id": scoped_id(scope, user_id),
                "balance": {"$gte": Int64(amount)},
                "pending": {"$ne": tid},
            },
            {"$inc": {"balance": Int64(-amount)}, "$push": {"pending": tid}},
            return_document=ReturnDocument.AFTER,
            projection={"balance": 1},
        )
        if after is None:
            raise _Refused
        return int(after["balance"])

    def _credit(
        self, tid: str, scope: str, user_id: str, amount: int, *, fresh: bool
    ) -> int | None:
        key = scoped_id(scope, user_id)
        for attempt in range(2):
            try:
                after = self._accounts.find_one_and_update(
                    {
                        "_id": key,
                        "pending": {"$ne": tid},
                        "balance": {"$lte": Int64(MAX_INT64 - amount)},
                    },
                    {
                        "$inc": {"balance": Int64(amount)},
                        "$push": {"pending": tid},
                        "$setOnInsert": {"scope": scope, "user_id": user_id},
                    },
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                    projection={"balance": 1},
                )
                return int(after["balance"])
            except DuplicateKeyError:
                # The account exists and the guard refused: credited already, over the cap,
                # or (first attempt) another first credit raced ours to create the account.
                if self._has_marker(scope, user_id, tid):
                    return None
                if attempt:
                    raise _OverCap from None
        raise AssertionError("unreachable")

    def _refund(self, tid: str, scope: str, user_id: str, amount: int) -> None:
        # Guarded by the marker: the refund happens once, and pulling the marker records it.
        self._accounts.update_one(
            {"_id": scoped_id(scope, user_id), "pending": tid},
            {"$inc": {"balance": Int64(amount)}, "$pull": {"pending": tid}},
        )
        self._ledger.delete_many({"transfer_id": tid})

    def _fail(self, doc: dict[str, Any]) -> None:
        self._ledger.delete_many({"transfer_id": doc["_id"]})
        if doc.get("keyed"):
            self._transfers.update_one(
                {"_id": doc["_id"], "status": "pending"},
                {"$set": {"status": "failed", "updated_at": doc["updated_at"]}},
            )
        else:
            # Nobody can retry a generated id: keep the collection to what matters.
            self._transfers.delete_one({"_id": doc["_id"], "status": "pending"})

    def _write_ledger(self, doc: dict[str, Any], side: str, balance_after: int | None) -> None:
        payer, payee = doc.get("from_user"), doc.get("to_user")
        user, other, sign = (payer, payee, -1) if side == "debit" else (payee, payer, 1)
        entry = {
            "transfer_id": doc["_id"],
            "side": side,
            "scope": doc["scope"],
            "user_id": user,
            "amount": Int64(sign * int(doc["amount"])),
            "balance_after": None if balance_after is None else Int64(balance_after),
            "counterparty": other,
            "reason": doc.get("reason"),
            "at": doc["created_at"],
        }
        try:
            self._ledger.update_one(
                {"_id": f"{doc['_id']}/{side}"}, {"$setOnInsert": entry}, upsert=True
            )
        except DuplicateKeyError:
            pass  # written already: the entry is immutable

    # --- reads --------------------------------------------------------------------------

    def history(self, user_id: str, scope: Scope, limit: int, offset: int = 0) -> list[LedgerEntry]:
        cursor = (
            self._ledger.find({"scope": scope.key, "user_id": user_id})
            .sort([("at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [_entry(doc) for doc in cursor]

    def top(self, scope: Scope, limit: int, offset: int = 0) -> list[tuple[str, int]]:
        cursor = (
            # Int64, as balances are stored: the mongoeco stand-in compares an int32 0
            # with Int64 values wrongly (a real server compares numbers by value).
            self._accounts.find(
                {"scope": scope.key, "balance": {"$gt": Int64(0)}}, {"user_id": 1, "balance": 1}
            )
            .sort([("balance", DESCENDING), ("user_id", 1)])
            .hint("scope_balance")
            .skip(offset)
            .limit(limit)
        )
        return [(doc["user_id"], int(doc["balance"])) for doc in cursor]

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        doc = self._transfers.find_one({"_id": transfer_id})
        return None if doc is None else _transfer(doc)

    def audit(self, scope: Scope) -> AuditReport:
        books = Books()
        query: dict[str, Any] = {} if scope.is_every else {"scope": scope.key}
        for doc in self._accounts.find(query, {"scope": 1, "user_id": 1, "balance": 1}):
            books.account(doc["scope"], doc["user_id"], int(doc["balance"]))
        for doc in self._transfers.find(query, {"scope": 1, "kind": 1, "amount": 1, "status": 1}):
            books.transfer(doc["scope"], doc["_id"], doc["kind"], int(doc["amount"]), doc["status"])
        for doc in self._ledger.find(
            query, {"scope": 1, "transfer_id": 1, "side": 1, "user_id": 1, "amount": 1}
        ):
            books.ledger(
                doc["scope"], doc["transfer_id"], doc["side"], doc["user_id"], int(doc["amount"])
            )
        return books.report()

    # --- recovery -----------------------------------------------------------------------

    def recover(self, older_than: datetime, *, dry_run: bool = False) -> RecoveryReport:
        if dry_run:
            return self._recovery_plan(older_than)
        forward = back = cleared = 0
        stale = list(
            self._transfers.find({"status": "pending", "updated_at": {"$lte": older_than}})
        )
        for doc in stale:
            first = doc.get("from_user") or doc.get("to_user")
            if not self._has_marker(doc["scope"], first, doc["_id"]):
                # Its first step never happened (or was refunded): undo = mark failed.
                self._fail({**doc, "keyed": True})
                back += 1
                continue
            try:
                self._drive(doc, fresh=False)
                forward += 1
            except (InsufficientFunds, InvalidAmount, LimitExceeded):
                back += 1
        # Markers left by a crash between "done" and the pull (or by a refund).
        for account in self._accounts.find({"pending.0": {"$exists": True}}, {"pending": 1}):
            for tid in account["pending"]:
                transfer = self._transfers.find_one({"_id": tid}, {"status": 1, "updated_at": 1})
                if transfer is None or transfer["status"] == "pending":
                    continue
                result = self._accounts.update_one(
                    {"_id": account["_id"]}, {"$pull": {"pending": tid}}
                )
                cleared += result.modified_count
        left = self._transfers.count_documents({"status": "pending"})
        return RecoveryReport(
            rolled_forward=forward, rolled_back=back, markers_cleared=cleared, pending_left=left
        )

    def _recovery_plan(self, older_than: datetime) -> RecoveryReport:
        """What `recover` would do, by the same tests, with reads only. A finish that would
        meet the balance cap is undone instead; the plan counts it as a finish."""
        steps: list[RecoveryStep] = []
        stale = list(
            self._transfers.find({"status": "pending", "updated_at": {"$lte": older_than}})
        )
        for doc in stale:
            first = doc.get("from_user") or doc.get("to_user")
            proven = self._has_marker(doc["scope"], first, doc["_id"])
            steps.append(RecoveryStep(doc["_id"], doc["scope"], "finish" if proven else "undo"))
        for account in self._accounts.find(
            {"pending.0": {"$exists": True}}, {"pending": 1, "scope": 1}
        ):
            for tid in account["pending"]:
                transfer = self._transfers.find_one({"_id": tid}, {"status": 1})
                if transfer is not None and transfer["status"] != "pending":
                    steps.append(RecoveryStep(tid, account.get("scope", ""), "clear marker"))
        left = self._transfers.count_documents({"status": "pending"}) - len(stale)

        def count(action: str) -> int:
            return sum(1 for s in steps if s.action == action)

        return RecoveryReport(
            rolled_forward=count("finish"),
            rolled_back=count("undo"),
            markers_cleared=count("clear marker"),
            pending_left=left,
            dry_run=True,
            steps=tuple(steps),
        )

    # --- a member's data (core.users.privacy) ---------------------------------------------

    def member_balances(self, user_id: str) -> list[tuple[str, int]]:
        docs = self._accounts.find({"user_id": user_id}, {"scope": 1, "balance": 1})
        return sorted((doc["scope"], int(doc["balance"])) for doc in docs)

    def pseudonymise_member(self, user_id: str, scope: str, pseudonym: str) -> int:
        changed = 0
        old = self._accounts.find_one({"_id": scoped_id(scope, user_id)})
        if old is not None:
            if old.get("pending"):
                raise ServiceUnavailable(
                    f"a transfer of this member is still being applied in "
                    f"{Scope.from_key(scope).display}; retry in a minute (abby bank recover)"
                )
            # The _id holds the user id: copy under the pseudonym, then delete. A crash in
            # between leaves both; the rerun's upsert is then a no-op and the delete runs.
            fields = {k: v for k, v in old.items() if k != "_id"}
            self._accounts.update_one(
                {"_id": scoped_id(scope, pseudonym)},
                {"$setOnInsert": {**fields, "user_id": pseudonym}},
                upsert=True,
            )
            changed += self._accounts.delete_one({"_id": old["_id"]}).deleted_count
        for collection, field in (
            (self._ledger, "user_id"),
            (self._ledger, "counterparty"),
            (self._transfers, "from_user"),
            (self._transfers, "to_user"),
        ):
            changed += collection.update_many(
                {"scope": scope, field: user_id}, {"$set": {field: pseudonym}}
            ).modified_count
        return changed


def _entry(doc: dict[str, Any]) -> LedgerEntry:
    after = doc.get("balance_after")
    return MONGO.decode(
        LedgerEntry,
        {"counterparty": None, "reason": None, **doc},
        amount=int(doc["amount"]),
        balance_after=None if after is None else int(after),
    )
