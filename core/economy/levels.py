"""Level curves: total XP <-> level, integer-exact in both directions.

A curve is defined by one function, `xp_for_level(L)` (the total XP needed to reach level L,
strictly increasing, 0 at level 0); its inverse `level_for_xp(xp)` is the largest L with
`xp_for_level(L) <= xp`, found from a float estimate and then corrected with integer
comparisons, so the two agree exactly at every boundary however large the numbers get.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

# Balances and XP are stored as signed 64-bit integers (SQLite INTEGER, BSON int64).
MAX_INT64 = 2**63 - 1


class Curve(Protocol):
    @property
    def name(self) -> str: ...

    def xp_for_level(self, level: int) -> int:
        """Total XP needed to reach `level` (0 for level 0)."""
        ...

    def level_for_xp(self, xp: int) -> int:
        """The level a total of `xp` reaches."""
        ...


def _check_level(level: int) -> None:
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise ValueError(f"level must be a non-negative int, not {level!r}")


def _invert(curve: Curve, xp: int, estimate: float) -> int:
    """Largest L with curve.xp_for_level(L) <= xp, starting from a float estimate."""
    if isinstance(xp, bool) or not isinstance(xp, int):
        raise TypeError(f"xp must be an int, not {type(xp).__name__}")
    if xp <= 0:
        return 0
    level = max(0, int(estimate))
    # The estimate is off by at most a few levels; walk to the exact boundary.
    while level > 0 and curve.xp_for_level(level) > xp:
        level -= 1
    while curve.xp_for_level(level + 1) <= xp:
        level += 1
    return level


@dataclass(frozen=True)
class Mee6Curve:
    """MEE6's curve: going from level L to L+1 costs 5L^2 + 50L + 100 XP."""

    name: str = "mee6"

    def xp_for_level(self, level: int) -> int:
        _check_level(level)
        n = level
        # Sum over k < n of 5k^2 + 50k + 100, in closed form (exact integer arithmetic).
        return (5 * (n - 1) * n * (2 * n - 1)) // 6 + 25 * (n - 1) * n + 100 * n

    def level_for_xp(self, xp: int) -> int:
        # total(L) ~ (5/3) L^3 for large L.
        return _invert(self, xp, (max(xp, 0) * 0.6) ** (1 / 3) if xp > 0 else 0.0)


@dataclass(frozen=True)
class PowerCurve:
    """Total XP for level L = ceil(base * L^exponent)."""

    base: float = 100.0
    exponent: float = 2.0
    name: str = "power"

    def __post_init__(self) -> None:
        if not (self.base > 0 and self.exponent > 0):
            raise ValueError("power curve base and exponent must be positive")

    def xp_for_level(self, level: int) -> int:
        _check_level(level)
        if level == 0:
            return 0
        if float(self.exponent).is_integer():
            # Exact: the float base as a fraction times an exact integer power.
            return math.ceil(Fraction(self.base) * level ** int(self.exponent))
        return math.ceil(self.base * level**self.exponent)

    def level_for_xp(self, xp: int) -> int:
        estimate = (max(xp, 0) / self.base) ** (1 / self.exponent) if xp > 0 else 0.0
        return _invert(self, xp, min(estimate, float(MAX_INT64)))


@dataclass(frozen=True)
class Progress:
    """Where a total of XP stands on a curve."""

    level: int
    xp_into_level: int  # XP earned since reaching `level`
    xp_for_next: int  # XP the step from `level` to `level + 1` costs
    xp_to_next: int  # XP still missing to reach `level + 1`


def progress(curve: Curve, xp: int) -> Progress:
    level = curve.level_for_xp(xp)
    floor = curve.xp_for_level(level)
    ceiling = curve.xp_for_level(level + 1)
    return Progress(level, xp - floor, ceiling - floor, ceiling - xp)


def make_curve(name: str, *, power_base: float = 100.0, power_exponent: float = 2.0) -> Curve:
    """Build the curve a guild's settings name."""
    if name == "mee6":
        return Mee6Curve()
    if name == "power":
        return PowerCurve(power_base, power_exponent)
    raise ValueError(f"unknown curve {name!r}: use mee6 or power")
