"""Economy records and the repository interfaces both backends implement.

Repositories take a `Scope` (core.scope); rows store its key ("" = global). Amounts are Python ints
already validated by the services; repositories make every change one atomic, guarded
operation (SQLite: one statement or one BEGIN IMMEDIATE transaction; MongoDB: guarded
single-document updates, with a transfer document driving multi-document moves).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from core.db.codec import stamp
from core.db.records import Field, Portable, Table
from core.errors import IdempotencyConflict
from core.scope import Scope

TransferKind = Literal["transfer", "mint", "burn"]
TransferStatus = Literal["done", "failed", "pending"]


def _scoped_id(record: Mapping[str, Any]) -> str:
    # Imported here: core.db.mongo imports pymongo, which the SQLite backend never needs.
    from core.db.mongo import scoped_id

    return scoped_id(record["scope"], record["user_id"])


# --- XP --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XpStatus:
    """A user's standing in one scope (`abby xp get`, `get_xp`)."""

    user_id: str
    guild_id: str | None
    xp: int
    level: int
    rank: int | None  # None when the user has no record in this scope
    xp_into_level: int
    xp_for_next: int
    xp_to_next: int


@dataclass(frozen=True)
class XpChange:
    """The outcome of one grant or correction."""

    user_id: str
    guild_id: str | None
    amount: int  # what was asked; xp - previous_xp may differ when clamped at 0
    xp: int
    level: int
    previous_xp: int
    previous_level: int
    leveled_up: bool
    reason: str | None = None
    announce: bool = False  # a level-up the scope's settings want announced (message XP)


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    user_id: str
    guild_id: str | None
    xp: int
    level: int
    xp_into_level: int
    xp_for_next: int


@dataclass(frozen=True)
class XpGuildSettings:
    """XP rules of one scope: config defaults overlaid with what the operator stored."""

    guild_id: str | None
    min_grant: int
    max_grant: int
    cooldown_seconds: int
    curve: str
    power_base: float
    power_exponent: float
    ignored_channels: tuple[str, ...] = ()
    ignored_roles: tuple[str, ...] = ()
    announce_level_ups: bool = True
    # Level rewards (core.economy.rewards): (level, role id) ascending by level.
    level_roles: tuple[tuple[int, str], ...] = ()
    remove_lower_roles: bool = False  # keep only the highest reward role reached
    announce_channel: str | None = None  # None: the channel where the member spoke
    announce_template: str = "🎉 {member} reached level {level}!"
    voice_xp_per_minute: int = 10
    # Reward roles Discord refused to assign (above the bot's role): reported once, skipped.
    blocked_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class PendingLevel:
    """A member whose level changed and whose reward roles the bot has not reconciled yet."""

    user_id: str
    scope: Scope
    level: int  # the level when the change was recorded
    changed_at: float  # epoch seconds; clearing is guarded by it, so a newer change survives


class XpRepository(Portable, ABC):
    """Total XP per (user, scope), the leaderboard index, and per-scope settings."""

    TABLES = (
        Table(
            "xp",
            key=("scope", "user_id"),
            fields=(
                Field("scope"),
                Field("user_id"),
                Field("xp", "int"),
                Field("prev_xp", "int"),
                # The cooldown is compared as epoch seconds on both backends.
                Field("last_grant_at", "time", sqlite="epoch", mongo="epoch"),
                Field("updated_at", "time", sqlite="epoch"),
            ),
            mongo_id=_scoped_id,
        ),
        Table(
            "xp_settings",
            key=("scope",),
            fields=(Field("scope"), Field("settings", "json"), Field("updated_at", "time")),
            id_field="scope",
        ),
    )

    @abstractmethod
    def get(self, user_id: str, scope: Scope) -> int | None:
        """The user's XP, or None when there is no record (a read never creates one)."""

    @abstractmethod
    def add(self, user_id: str, scope: Scope, delta: int, now: datetime) -> tuple[int, int]:
        """Add `delta` (may be negative), clamped to [0, 2^63-1]; return (previous, new)."""

    @abstractmethod
    def grant_if_cooled(
        self, user_id: str, scope: Scope, amount: int, now: float, cooldown: float
    ) -> tuple[int, int] | None:
        """Grant `amount` unless the last grant was less than `cooldown` seconds before `now`
        (epoch seconds); the check and the grant are one operation. None when on cooldown."""

    @abstractmethod
    def set_many(
        self, scope: Scope, rows: Sequence[tuple[str, int]], now: datetime, *, mode: str = "replace"
    ) -> int:
        """Import totals, each row one guarded statement; return rows changed (or created).

        mode replace sets the total, max keeps the higher (never lowers), add adds it
        (capped at 2^63-1)."""

    @abstractmethod
    def top(self, scope: Scope, limit: int, offset: int = 0) -> list[tuple[str, int]]:
        """(user_id, xp) by XP descending, ties by user_id ascending."""

    @abstractmethod
    def rank(self, user_id: str, scope: Scope, xp: int) -> int:
        """1 + users with more XP, or equal XP and a smaller user_id (an index range count)."""

    @abstractmethod
    def count(self, scope: Scope) -> int: ...

    # --- level changes the bot reconciles roles for (core.economy.rewards) ---------------

    @abstractmethod
    def atomic(self) -> AbstractContextManager[object]:
        """One transaction around an XP change and its level mark where the backend has
        them (SQLite; joins an open one); MongoDB writes each single-document operation."""

    @abstractmethod
    def add_many(
        self, scope: Scope, user_ids: Sequence[str], amount: int, now: datetime
    ) -> list[tuple[str, int, int]]:
        """Add `amount` (> 0, capped at 2^63-1) to each user in one batched write; return
        (user_id, previous, new) per user."""

    @abstractmethod
    def mark_levels(self, scope: Scope, marks: Sequence[tuple[str, int, float]]) -> None:
        """Record (user_id, level, changed_at) as pending role reconciliation (one row per
        member: a later mark replaces an earlier one)."""

    @abstractmethod
    def pending_levels(self, scopes: Sequence[Scope], limit: int) -> list[PendingLevel]:
        """Pending marks of these scopes, oldest first (an index range on changed_at)."""

    @abstractmethod
    def clear_level(self, user_id: str, scope: Scope, changed_at: float) -> bool:
        """Delete a member's mark if it is still the one read (changed_at equal)."""

    @abstractmethod
    def get_settings(self, scope: Scope) -> dict[str, Any]:
        """The stored overrides of a scope ({} when none)."""

    @abstractmethod
    def set_settings(self, scope: Scope, values: Mapping[str, Any], now: datetime) -> None:
        """Replace the stored overrides of a scope."""

    # --- a member's data (core.users.privacy) ---------------------------------------------

    @abstractmethod
    def member_totals(self, user_id: str) -> list[tuple[str, int]]:
        """(scope, xp) of every scope where the user has XP, ordered by scope."""

    @abstractmethod
    def erase_member(self, user_id: str, scope: str) -> int:
        """Delete the user's XP record in one scope; return rows deleted (0 on a rerun)."""


# --- bank ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    user_id: str
    guild_id: str | None
    balance: int


@dataclass(frozen=True)
class BalanceRow:
    """One line of a scope's balance leaderboard."""

    rank: int
    user_id: str
    guild_id: str | None
    balance: int


@dataclass(frozen=True)
class TransferRequest:
    """One movement: a transfer (both users), a mint (no from_user) or a burn (no to_user)."""

    transfer_id: str
    scope: Scope
    kind: TransferKind
    from_user: str | None
    to_user: str | None
    amount: int
    reason: str | None
    keyed: bool  # True when transfer_id is a caller's idempotency key
    now: datetime


@dataclass(frozen=True)
class Transfer:
    transfer_id: str
    guild_id: str | None
    kind: TransferKind
    from_user: str | None
    to_user: str | None
    amount: int
    status: TransferStatus
    reason: str | None
    created_at: datetime
    replayed: bool = False  # True when an earlier call with this key already decided it
    balance_after: int | None = None  # the payer's (or minted account's) balance after


@dataclass(frozen=True)
class LedgerEntry:
    transfer_id: str
    user_id: str
    guild_id: str | None
    amount: int  # signed: negative for money leaving the account
    balance_after: int | None  # None only for an entry written by recovery
    counterparty: str | None  # None for a mint or a burn
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class ScopeAudit:
    guild_id: str | None
    accounts: int
    total_balance: int
    minted: int
    burned: int
    transfers: int
    ok: bool


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    scopes: tuple[ScopeAudit, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RecoveryStep:
    """One thing a recovery does (or, in a dry run, would do) to one movement."""

    transfer_id: str
    scope: str
    action: str  # "finish", "undo" or "clear marker"


@dataclass(frozen=True)
class RecoveryReport:
    rolled_forward: int
    rolled_back: int
    markers_cleared: int
    pending_left: int  # younger than the grace period: their own process may still be on them
    dry_run: bool = False  # then the counts say what a recovery would do; nothing changed
    steps: tuple[RecoveryStep, ...] = ()  # each planned action (dry runs only)


class BankRepository(Portable, ABC):
    """Balances, the ledger and transfer records (also the idempotency table)."""

    # Transfers first: they are the idempotency keys, and a copy stopped half-way must not
    # hold ledger rows whose transfer a retried request could apply again.
    TABLES = (
        Table(
            "bank_transfers",
            key=("transfer_id",),
            fields=(
                *(Field(name) for name in ("transfer_id", "scope", "kind", "from_user")),
                Field("to_user"),
                Field("amount", "int"),
                Field("status"),
                Field("reason"),
                Field("keyed", "bool"),
                Field("created_at", "time"),
            ),
            id_field="transfer_id",
            # MongoDB's recovery finds pending movements by their last change.
            mongo_fill=lambda doc: {"updated_at": doc["created_at"]},
        ),
        Table(
            "bank_ledger",
            key=("transfer_id", "side"),
            fields=(
                *(Field(name) for name in ("transfer_id", "side", "scope", "user_id")),
                Field("amount", "int"),
                Field("balance_after", "int"),
                Field("counterparty"),
                Field("reason"),
                Field("at", "time"),
            ),
            mongo_id=lambda r: f"{r['transfer_id']}/{r['side']}",
            sqlite_order="seq",
            mongo_order=("at", "_id"),
            sqlite_unique=False,
        ),
        Table(
            "bank_accounts",
            key=("scope", "user_id"),
            fields=(Field("scope"), Field("user_id"), Field("balance", "int")),
            mongo_id=_scoped_id,
            sqlite_fill={"updated_at": lambda: stamp(datetime.now(UTC))},
        ),
    )

    @abstractmethod
    def balance(self, user_id: str, scope: Scope) -> int | None: ...

    @abstractmethod
    def apply(self, request: TransferRequest) -> Transfer:
        """Apply a movement once. Raise InsufficientFunds (nothing changed), InvalidAmount
        (a balance would pass 2^63-1) or IdempotencyConflict; a replayed key returns (or
        re-raises) the original outcome."""

    @abstractmethod
    def history(self, user_id: str, scope: Scope, limit: int, offset: int = 0) -> list[LedgerEntry]:
        """Ledger entries of one account, newest first, skipping the `offset` newest (an
        index range: the account's entries in order of writing)."""

    @abstractmethod
    def top(self, scope: Scope, limit: int, offset: int = 0) -> list[tuple[str, int]]:
        """(user_id, balance) of the scope's accounts holding more than 0, by balance
        descending, ties by user_id ascending (read off an index, not sorted)."""

    @abstractmethod
    def get_transfer(self, transfer_id: str) -> Transfer | None: ...

    @abstractmethod
    def audit(self, scope: Scope) -> AuditReport:
        """Prove the books of one scope (or of every scope: `Scope.EVERY`)."""

    @abstractmethod
    def recover(self, older_than: datetime, *, dry_run: bool = False) -> RecoveryReport:
        """Finish or undo movements interrupted before `older_than` (a no-op where a movement
        is one transaction); with dry_run, only read and report what it would do."""

    # --- a member's data (core.users.privacy) ---------------------------------------------

    @abstractmethod
    def member_balances(self, user_id: str) -> list[tuple[str, int]]:
        """(scope, balance) of every account the user holds, ordered by scope."""

    @abstractmethod
    def pseudonymise_member(self, user_id: str, scope: str, pseudonym: str) -> int:
        """Replace the user's id by `pseudonym` on their account, ledger rows (as owner and as
        counterparty) and transfers in one scope, amounts untouched, so the books still
        balance. Idempotent: a rerun finds nothing left under the id. Returns rows changed."""

    @staticmethod
    def check_same(existing: Transfer, request: TransferRequest) -> None:
        """Refuse a key reused for a different movement, naming the first differing field."""
        pairs = (
            ("guild", existing.guild_id, request.scope.guild_id),
            ("kind", existing.kind, request.kind),
            ("payer", existing.from_user, request.from_user),
            ("payee", existing.to_user, request.to_user),
            ("amount", existing.amount, request.amount),
        )
        for name, before, now in pairs:
            if before != now:
                raise IdempotencyConflict(
                    f"idempotency key {request.transfer_id!r} was used for a transfer with a "
                    f"different {name} ({before!r}, not {now!r}); use a new key",
                    field=name,
                )
