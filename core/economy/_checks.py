"""Input checks shared by the XP and bank services: amounts and reasons."""

from __future__ import annotations

from core.economy.levels import MAX_INT64
from core.errors import AmountNotInteger, InvalidAmount, InvalidInput


def check_amount(value: object, what: str = "amount") -> int:
    """Return `value` if it is a real int within int64, else raise (TypeError/ValueError)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise AmountNotInteger(f"{what} must be a whole number, not {type(value).__name__}")
    if abs(value) > MAX_INT64:
        raise InvalidAmount(f"{what} is beyond the maximum {MAX_INT64}")
    return value


def check_reason(reason: object) -> str | None:
    """A short single-line reason, or None."""
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > 200:
        raise InvalidInput("reason must be text of at most 200 characters")
    if any(ord(c) < 32 for c in reason):
        raise InvalidInput("reason contains control characters")
    return reason.strip() or None
