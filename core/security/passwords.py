"""Password hashing with bcrypt.

bcrypt reads at most 72 bytes of its input and silently ignores the rest, so a longer password
is refused rather than truncated. Verification runs in constant time (bcrypt.checkpw) and
answers False, never an exception, for a malformed or foreign hash.
"""

from __future__ import annotations

import bcrypt

from core.errors import InvalidInput

MAX_PASSWORD_BYTES = 72


def _password_bytes(password: object) -> bytes:
    if not isinstance(password, str):
        raise InvalidInput(f"password must be text, not {type(password).__name__}")
    try:
        raw = password.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("password is not valid text (unpaired surrogates)") from None
    if not raw:
        raise InvalidInput("password must not be empty")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise InvalidInput(
            f"password is {len(raw)} bytes in UTF-8; bcrypt uses at most "
            f"{MAX_PASSWORD_BYTES} and would ignore the rest"
        )
    if b"\x00" in raw:
        raise InvalidInput("password must not contain NUL characters")
    return raw


class PasswordHasher:
    """bcrypt with a configurable cost (log2 rounds, 4-31)."""

    def __init__(self, *, rounds: int = 12) -> None:
        if not 4 <= rounds <= 31:
            raise InvalidInput(f"bcrypt rounds must be 4-31, not {rounds}")
        self.rounds = rounds

    def hash(self, password: str) -> str:
        """Hash a password; InvalidInput (a ValueError) when it is empty or over 72 bytes."""
        raw = _password_bytes(password)
        return bcrypt.hashpw(raw, bcrypt.gensalt(rounds=self.rounds)).decode("ascii")

    def verify(self, password: str, hashed: str | bytes) -> bool:
        """True when `password` matches `hashed`; False for a mismatch or any malformed input."""
        try:
            raw = _password_bytes(password)
            stored = hashed.encode("ascii") if isinstance(hashed, str) else bytes(hashed)
            return bcrypt.checkpw(raw, stored)
        except (InvalidInput, ValueError, TypeError, UnicodeEncodeError):
            return False


def verify_password(password: str, hashed: str | bytes) -> bool:
    """Check a password against a bcrypt hash; never raises."""
    return PasswordHasher().verify(password, hashed)
