"""Scope: where a record lives — the global scope, one guild — or, for a read, every scope.

Repositories take a `Scope`, never `None`, `""` or a flag: `Scope.of(guild_id)` at the
service boundary turns the seed's `guild_id=None` (global) into a value, and `Scope.EVERY`
is the one way to say "all scopes" (an audit, a member's data export). Stored records carry
`scope.key`: the empty string for the global scope, which no real guild id can equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.ids import GLOBAL_SCOPE, check_id


@dataclass(frozen=True, slots=True)
class Scope:
    """A global, guild or every-scope value; compare and hash it like the key it holds."""

    # The stored key ("" for global, the guild id), or None for every scope.
    _key: str | None

    GLOBAL: ClassVar[Scope]
    EVERY: ClassVar[Scope]

    @classmethod
    def of(cls, guild_id: object | None) -> Scope:
        """The scope of a seed-style `guild_id` (None = global), the id checked."""
        return cls.GLOBAL if guild_id is None else cls(check_id(guild_id, "guild id"))

    @classmethod
    def from_key(cls, key: str) -> Scope:
        """The scope of a stored key (the inverse of `key`)."""
        return cls.GLOBAL if key == GLOBAL_SCOPE else cls(key)

    @property
    def is_every(self) -> bool:
        return self._key is None

    @property
    def is_global(self) -> bool:
        return self._key == GLOBAL_SCOPE

    @property
    def key(self) -> str:
        """The stored key; every-scope has none, since nothing is stored under it."""
        if self._key is None:
            raise ValueError("every scope is a read filter and has no stored key")
        return self._key

    @property
    def guild_id(self) -> str | None:
        """The guild id, None for the global scope (the seed's spelling)."""
        if self._key is None:
            raise ValueError("every scope has no guild id")
        return None if self._key == GLOBAL_SCOPE else self._key

    def keys(self) -> tuple[str, ...] | None:
        """Keys a read filters on: (key,) for one scope, None (no filter) for every scope."""
        return None if self._key is None else (self._key,)

    @property
    def display(self) -> str:
        """How messages name it: 'the global scope', 'guild 123', 'every scope'."""
        if self._key is None:
            return "every scope"
        return "the global scope" if self._key == GLOBAL_SCOPE else f"guild {self._key}"

    def __str__(self) -> str:
        return self.display


Scope.GLOBAL = Scope(GLOBAL_SCOPE)
Scope.EVERY = Scope(None)
