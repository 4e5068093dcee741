"""Options shared by every command, declared once as `Annotated` aliases.

Every number a user types is bounded here before it reaches the core: a value past what a
C integer, a `timedelta` or a `datetime` holds used to crash deep inside with an
OverflowError (exit 1) instead of a usage error (exit 2).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from abby_cli import runtime

if TYPE_CHECKING:
    from datetime import timedelta

# The largest whole number any option takes: the bank's and XP's cap (a signed 64-bit int).
MAX_INT = 2**63 - 1
# Ages and grace periods: a century is longer than any retention anyone means, and
# `now - age` stays a valid datetime.
MAX_DAYS = 36_500
MAX_SECONDS = MAX_DAYS * 86_400
# A level is bounded like the XP it comes from.
MAX_LEVEL = MAX_INT

_DURATION = re.compile(r"([0-9]{1,12})\s*([smhdw]?)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 86400}


def parse_duration(text: str, *, option: str = "--older-than") -> timedelta:
    """'30d', '12h', '90m', '2w', '45s' or a bare number of days, up to MAX_DAYS."""
    from datetime import timedelta

    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise typer.BadParameter(
            f"{text[:40]!r} is not a duration such as 30d, 12h, 90m or 2w", param_hint=option
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_SECONDS:
        raise typer.BadParameter(
            f"{text[:40]!r} is longer than the limit of {MAX_DAYS:,} days", param_hint=option
        )
    return timedelta(seconds=seconds)


def _set_json(value: bool) -> bool:
    if value:
        runtime.state.json = True
    return value


JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON document on stdout instead of tables.",
        callback=_set_json,
        is_eager=True,
    ),
]
GuildOpt = Annotated[
    str | None,
    typer.Option("--guild", "-g", help="Guild (server) id; omit for the global scope."),
]
UserOpt = Annotated[str | None, typer.Option("--user", "-u", help="Discord user id.")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="Rows to show.")]
LevelOpt = Annotated[int, typer.Option("--level", min=0, max=MAX_LEVEL, help="The member's level.")]
YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Do it without asking (required without a terminal).")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Show what would change and change nothing.")
]
