"""Economy: XP, levels, leaderboards and the bank.

The seed's functions below are one-line shortcuts onto the services of the current
application context (`core.context.current()`); they work in a fresh process where only
ABBY_DATA_DIR (or ABBY_DATABASE__URI) is set. Only they turn expected failures into the
seed's return values (`transfer` -> False on insufficient funds); programmer errors (an amount
that is not an int, a negative transfer, a transfer to oneself) raise TypeError/ValueError.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.economy._checks import check_amount
from core.economy.bank import BankService
from core.economy.levels import Mee6Curve, PowerCurve
from core.economy.repository import (
    AuditReport,
    Balance,
    LeaderboardRow,
    LedgerEntry,
    Transfer,
    XpChange,
    XpStatus,
)
from core.economy.xp import XpService

if TYPE_CHECKING:
    from core.context import AppContext

__all__ = [
    "AuditReport",
    "Balance",
    "BankService",
    "LeaderboardRow",
    "LedgerEntry",
    "Mee6Curve",
    "PowerCurve",
    "Transfer",
    "XpChange",
    "XpService",
    "XpStatus",
    "add_currency",
    "check_amount",
    "add_xp",
    "get_balance",
    "get_leaderboard",
    "get_level",
    "get_xp",
    "grant_message_xp",
    "transfer",
]


def _ctx() -> AppContext:
    # Imported here: core.context imports this package's services.
    from core.context import current

    return current()


def get_xp(user_id: str, guild_id: str | None = None) -> dict[str, Any]:
    """XP, level, rank and progress of a user in a scope (0 XP, level 0 when no record)."""
    return dataclasses.asdict(_ctx().xp.get(user_id, guild_id=guild_id))


def add_xp(
    user_id: str, amount: int, guild_id: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """Add (or remove, negative) XP; returns xp, level, previous_level and leveled_up."""
    return dataclasses.asdict(_ctx().xp.add(user_id, amount, guild_id=guild_id, reason=reason))


def get_level(user_id: str, guild_id: str | None = None) -> int:
    return _ctx().xp.level(user_id, guild_id=guild_id)


def get_leaderboard(guild_id: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
    """Top users by XP with rank, level and progress; ties broken by user id."""
    return [
        dataclasses.asdict(row) for row in _ctx().xp.leaderboard(guild_id=guild_id, limit=limit)
    ]


def grant_message_xp(
    user_id: str, guild_id: str | None = None, now: datetime | float | None = None
) -> dict[str, Any] | None:
    """Grant message XP unless on cooldown (checked in the same database operation).

    Returns the change as a dict, or None when the user is still on cooldown.
    """
    change = _ctx().xp.grant_message(user_id, guild_id=guild_id, now=now)
    return None if change is None else dataclasses.asdict(change)


def get_balance(user_id: str, guild_id: str | None = None) -> int:
    return _ctx().bank.balance(user_id, guild_id=guild_id).balance


def transfer(
    from_user: str,
    to_user: str,
    amount: int,
    guild_id: str | None = None,
    *,
    idempotency_key: str | None = None,
    reason: str | None = None,
) -> bool:
    """Move `amount` between users once; False (and nothing changed) on insufficient funds."""
    from core.errors import InsufficientFunds

    try:
        _ctx().bank.transfer(
            from_user,
            to_user,
            amount,
            guild_id=guild_id,
            idempotency_key=idempotency_key,
            reason=reason,
        )
    except InsufficientFunds:
        return False
    return True


def add_currency(
    user_id: str, amount: int, reason: str | None = None, guild_id: str | None = None
) -> dict[str, Any]:
    """Mint (positive) or burn (negative) currency, recording the reason in the ledger.

    Returns {"success", "user_id", "guild_id", "amount", "balance", "transfer_id"}; a burn
    larger than the balance is refused with success False and an "error" text.
    """
    from core.errors import InsufficientFunds

    bank = _ctx().bank
    try:
        movement = bank.add(user_id, amount, reason=reason, guild_id=guild_id)
    except InsufficientFunds as exc:
        return {
            "success": False,
            "error": str(exc),
            "user_id": str(user_id),
            "guild_id": guild_id,
            "amount": amount,
            "balance": bank.balance(user_id, guild_id=guild_id).balance,
            "transfer_id": None,
        }
    balance = movement.balance_after
    if balance is None:
        balance = bank.balance(user_id, guild_id=guild_id).balance
    return {
        "success": True,
        "user_id": str(user_id),
        "guild_id": guild_id,
        "amount": amount,
        "balance": balance,
        "transfer_id": movement.transfer_id,
    }
