"""The bank service: integer balances that never go negative, a ledger, idempotent transfers.

Validation happens here (ids, amounts, keys, reasons); the repository applies each movement
once, atomically on SQLite and through a recoverable transfer document on MongoDB. A transfer
id is the caller's idempotency key when given (TigerBeetle's rule: a retried key returns the
original outcome, a failed key stays failed, a key reused for a different transfer is refused).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from core.clock import Clock
from core.config import BankSettings
from core.economy._checks import check_amount, check_reason
from core.economy.repository import (
    AuditReport,
    Balance,
    BalanceRow,
    BankRepository,
    LedgerEntry,
    RecoveryReport,
    Transfer,
    TransferKind,
    TransferRequest,
)
from core.errors import (
    AlreadyClaimed,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    RecipientIsBot,
    Refused,
)
from core.ids import check_id
from core.scope import Scope
from core.telemetry.governance import Governance

_KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
MAX_HISTORY = 10_000
MAX_LEADERBOARD = 100
# Paging skips entries on the index; past this an offset is refused rather than walked.
MAX_OFFSET = 1_000_000
DAILY_REASON = "daily"


def check_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidInput("idempotency key must be 1-128 letters, digits, '.', '_', ':' or '-'")
    return key


@dataclass(frozen=True)
class DailyClaim:
    """A paid daily reward: what was paid, the balance after, when the next claim opens."""

    user_id: str
    guild_id: str | None
    amount: int
    balance: int | None
    day: str  # the UTC day claimed, YYYY-MM-DD
    next_at: datetime  # the next UTC midnight
    transfer_id: str


def next_utc_midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date() + timedelta(days=1), time(0), tzinfo=moment.tzinfo)


def daily_key(scope: str, user_id: str, day: str) -> str:
    """The idempotency key of one member's claim for one UTC day in one scope."""
    key = f"daily:{scope}:{user_id}:{day}"
    if _KEY.fullmatch(key):
        return key
    # Two 64-character ids pass the key's 128: the digest keeps it unique and within.
    return "daily:" + hashlib.sha256(key.encode()).hexdigest()


def _page(limit: object, offset: object, most: int) -> tuple[int, int]:
    limit, offset = check_amount(limit, "limit"), check_amount(offset, "offset")
    if not 1 <= limit <= most:
        raise InvalidInput(f"limit must be 1-{most}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be 0-{MAX_OFFSET}")
    return limit, offset


def new_transfer_id() -> str:
    """A time-ordered unique id for a movement without a caller's key."""
    from core.telemetry.events import new_event_id

    return "t-" + new_event_id()


class BankService:
    def __init__(
        self,
        *,
        repo: BankRepository,
        settings: BankSettings,
        clock: Clock,
        events: Governance = Governance(),
    ) -> None:
        self._repo = repo
        self._settings = settings
        self._clock = clock
        self._events = events

    def balance(self, user_id: str, *, guild_id: str | None = None) -> Balance:
        """A user's balance; 0 (and nothing created) when there is no account."""
        user_id = check_id(user_id, "user id")
        amount = self._repo.balance(user_id, Scope.of(guild_id))
        return Balance(user_id=user_id, guild_id=guild_id, balance=amount or 0)

    def transfer(
        self,
        from_user: str,
        to_user: str,
        amount: int,
        *,
        guild_id: str | None = None,
        idempotency_key: str | None = None,
        reason: str | None = None,
        payee_is_bot: bool = False,
    ) -> Transfer:
        """Move `amount` from one user to another, once.

        `payee_is_bot`: the front end knows the payee is a bot account (Discord tells it);
        bots hold no currency, so RecipientIsBot is raised and nothing moves.
        Raises InsufficientFunds (nothing changed; a keyed transfer stays failed),
        InvalidAmount / AmountNotInteger (also ValueError / TypeError), IdempotencyConflict.
        """
        from_user = check_id(from_user, "payer id")
        to_user = check_id(to_user, "payee id")
        amount = check_amount(amount)
        if amount <= 0:
            raise InvalidAmount(f"a transfer amount must be positive, not {amount}")
        if from_user == to_user:
            raise InvalidInput("cannot transfer to the same user")
        if payee_is_bot:
            raise RecipientIsBot("bots cannot hold currency; pay a member instead")
        return self._repo.apply(
            self._request("transfer", from_user, to_user, amount, guild_id, idempotency_key, reason)
        )

    def add(
        self,
        user_id: str,
        amount: int,
        *,
        reason: str | None = None,
        guild_id: str | None = None,
        idempotency_key: str | None = None,
        actor_id: str | None = None,
        payee_is_bot: bool = False,
    ) -> Transfer:
        """Mint (positive) or burn (negative) currency on an account, with a ledger entry.

        A burn never takes a balance below zero: it raises InsufficientFunds instead. Who
        did it (`actor_id`: a moderator; None = an operator) goes in the governance event.
        `payee_is_bot` (the front end knows): a mint to a bot raises RecipientIsBot, as a
        transfer does; a burn is allowed, so a bot's stray balance can be cleaned up.
        """
        user_id = check_id(user_id, "user id")
        actor_id = None if actor_id is None else check_id(actor_id, "actor id")
        amount = check_amount(amount)
        if amount == 0:
            raise InvalidAmount("amount must not be zero")
        if payee_is_bot and amount > 0:
            raise RecipientIsBot("bots cannot hold currency; add it to a member instead")
        kind: TransferKind = "mint" if amount > 0 else "burn"
        payer, payee = (None, user_id) if amount > 0 else (user_id, None)
        movement = self._repo.apply(
            self._request(kind, payer, payee, abs(amount), guild_id, idempotency_key, reason)
        )
        if not movement.replayed:
            self._events.record(
                f"bank_{kind}",
                {
                    "transfer_id": movement.transfer_id,
                    "guild_id": guild_id,
                    "amount": amount,
                    "actor_id": actor_id,
                },
            )
        return movement

    def _request(
        self,
        kind: TransferKind,
        from_user: str | None,
        to_user: str | None,
        amount: int,
        guild_id: str | None,
        key: str | None,
        reason: str | None,
    ) -> TransferRequest:
        return TransferRequest(
            transfer_id=new_transfer_id() if key is None else check_key(key),
            scope=Scope.of(guild_id),
            kind=kind,
            from_user=from_user,
            to_user=to_user,
            amount=amount,
            reason=check_reason(reason),
            keyed=key is not None,
            now=self._clock.now(),
        )

    def daily(self, user_id: str, *, guild_id: str | None = None) -> DailyClaim:
        """Pay `bank.daily_amount` to the user once per UTC day per scope.

        The claim is one keyed mint (key `daily:<scope>:<user>:<day>`): the transfer id's
        unique index decides, so two processes claiming at once pay once. Raises
        AlreadyClaimed (with `next_at`) for a second claim the same day, Refused when the
        daily reward is turned off (amount 0) or today's claim failed earlier,
        LimitExceeded at the balance cap.
        """
        user_id = check_id(user_id, "user id")
        scope = Scope.of(guild_id)
        amount = self._settings.daily_amount
        if amount <= 0:
            raise Refused("the daily reward is turned off")
        now = self._clock.now()
        day = now.date().isoformat()
        next_at = next_utc_midnight(now)
        key = daily_key(scope.key, user_id, day)
        request = TransferRequest(
            transfer_id=key,
            scope=scope,
            kind="mint",
            from_user=None,
            to_user=user_id,
            amount=amount,
            reason=DAILY_REASON,
            keyed=True,
            now=now,
        )
        claimed = AlreadyClaimed(
            f"already claimed today; the next daily opens at {next_at:%Y-%m-%d %H:%M} UTC",
            next_at=next_at,
        )
        try:
            movement = self._repo.apply(request)
        except IdempotencyConflict:
            # The key exists with another amount (the setting changed since): still today's.
            raise claimed from None
        except InsufficientFunds as exc:
            # A mint is refused only as a replay of a claim that failed (at the balance cap,
            # or cut off by a crash and undone by recovery): its key stays failed all day.
            raise Refused(
                "today's daily claim failed and nothing was paid; the next daily opens at "
                f"{next_at:%Y-%m-%d %H:%M} UTC",
                next_at=next_at,
            ) from exc
        if movement.replayed:
            raise claimed
        self._events.record(
            "bank_daily",
            {"transfer_id": key, "guild_id": guild_id, "amount": amount, "day": day},
        )
        return DailyClaim(
            user_id=user_id,
            guild_id=guild_id,
            amount=amount,
            balance=movement.balance_after,
            day=day,
            next_at=next_at,
            transfer_id=key,
        )

    def history(
        self,
        user_id: str,
        *,
        guild_id: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[LedgerEntry]:
        """An account's ledger entries, newest first, after skipping `offset` of them."""
        limit, offset = _page(limit, offset, MAX_HISTORY)
        return self._repo.history(check_id(user_id, "user id"), Scope.of(guild_id), limit, offset)

    def leaderboard(
        self, guild_id: str | None = None, limit: int = 10, offset: int = 0
    ) -> list[BalanceRow]:
        """The scope's richest accounts (balance > 0), ties by user id, ranked from 1."""
        limit, offset = _page(limit, offset, MAX_LEADERBOARD)
        rows = self._repo.top(Scope.of(guild_id), limit, offset)
        return [
            BalanceRow(rank=offset + i + 1, user_id=user, guild_id=guild_id, balance=balance)
            for i, (user, balance) in enumerate(rows)
        ]

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        return self._repo.get_transfer(check_key(transfer_id))

    def audit(self, scope: Scope = Scope.EVERY) -> AuditReport:
        """Prove the books of one scope, or of every scope by default."""
        return self._repo.audit(scope)

    def recover(
        self, *, older_than_seconds: float | None = None, dry_run: bool = False
    ) -> RecoveryReport:
        """Finish or undo movements interrupted mid-way (MongoDB) that are older than the
        grace period (default `bank.recover_grace_seconds`). Safe to run at any time.
        With dry_run, report what it would do (each step listed) and change nothing."""
        grace = self._settings.recover_grace_seconds
        if older_than_seconds is not None:
            grace = older_than_seconds
        if grace < 0:
            raise InvalidInput("the grace period must not be negative")
        report = self._repo.recover(self._clock.now() - timedelta(seconds=grace), dry_run=dry_run)
        if dry_run:
            return report
        if report.rolled_forward or report.rolled_back or report.markers_cleared:
            self._events.record(
                "bank_recover",
                {
                    "rolled_forward": report.rolled_forward,
                    "rolled_back": report.rolled_back,
                    "markers_cleared": report.markers_cleared,
                },
            )
        return report
