"""Options shared by every command, declared once as `Annotated` aliases.

Every number a user types is bounded here before it reaches the core: a value past what a
C integer, a `timedelta` or a `datetime` holds used to crash deep inside with an
OverflowError (exit 1) instead of a usage error (exit 2).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from abby_cli import runtime

if TYPE_CHECKING:
    from datetime import timedelta

    from core.scope import Scope

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


def _set_plain(value: bool) -> bool:
    if value:
        runtime.state.plain = True
    return value


PlainOpt = Annotated[
    bool,
    typer.Option(
        "--plain",
        help="Print tab-separated lines, nothing truncated (for scripts; --json wins).",
        callback=_set_plain,
        is_eager=True,
    ),
]


@functools.cache
def _plain_param():  # noqa: ANN202 - a Click parameter
    """The --plain parameter, built once by Typer itself from PlainOpt."""
    holder = typer.Typer(add_completion=False)

    @holder.command()
    def command(plain: PlainOpt = False) -> None:
        """Holder."""

    (param,) = typer.main.get_command(holder).params
    param.expose_value = False  # command bodies never see it: the renderer does
    return param


def add_shared_options(command) -> None:  # noqa: ANN001 - a Click command or group
    """Give every leaf command under `command` --plain beside --json, once.

    Declared here, not in each signature, so every command (also those added later) takes
    it and no command body branches on it: `abby_cli.output.show` reads the mode.
    """
    children = getattr(command, "commands", None)
    if children is not None:
        for child in children.values():
            add_shared_options(child)
        return
    names = {param.name for param in command.params}
    if "json_out" in names and "plain" not in names:
        command.params.append(_plain_param())


def check_output_path(path: Path) -> Path:
    """Refuse an output file (-o) whose folder does not exist, exit 3 as for any missing
    path: a typo must not silently create a directory tree (or write where nobody looks)."""
    from core.errors import InvalidInput, UnknownFile

    parent = path.expanduser().parent
    if not parent.exists():
        raise UnknownFile(f"no such directory: {parent} (create it first, or pick another -o)")
    if not parent.is_dir():
        raise InvalidInput(f"{parent} is not a directory")
    return path


def output_path_option(path: Path | None) -> Path | None:
    """The callback of every -o/--output option: check_output_path at parse time, before
    any work is done (or a governance event recorded) for a file that cannot be written."""
    return None if path is None else check_output_path(path)


def scope_option(guild: str | None, *, every: bool = False) -> Scope:
    """The scope a `--guild` option names: 'global' (or no option) the global scope, an id
    that guild; with `every`, no option means every scope (listing commands)."""
    from core.scope import Scope

    if guild is None:
        return Scope.EVERY if every else Scope.GLOBAL
    return Scope.GLOBAL if guild == "global" else Scope.of(guild)


_INT = re.compile(r"[+-]?[0-9]{1,30}")


def parse_amount(text: str, *, positive: bool = False) -> int:
    """The CLI reads amounts itself, so every bad spelling gets the same one-line error."""
    from core.economy import check_amount
    from core.errors import InvalidAmount

    cleaned = text.strip().replace("_", "")
    if not _INT.fullmatch(cleaned):
        raise InvalidAmount(f"amount {text[:40]!r} is not a whole number (digits only, e.g. 250)")
    value = check_amount(int(cleaned))
    if positive and value <= 0:
        raise InvalidAmount(f"amount must be a positive whole number, not {value}")
    return value


def parse_ids(text: str | None) -> list[str]:
    """A comma-separated list of ids (`--roles 1,2`); empty items dropped."""
    return [item for item in (text or "").split(",") if item.strip()]


def read_json_file(path: Path, *, max_bytes: int, what: str) -> object:
    """A JSON input file: exit 3 when missing, 2 when unreadable or not JSON."""
    import json

    from core.errors import InvalidInput, UnknownFile
    from core.input_files import read_input_file

    try:
        text = read_input_file(path, max_bytes=max_bytes, what=what).decode()
    except FileNotFoundError:
        raise UnknownFile(f"no such file: {path}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not JSON (line {exc.lineno}: {exc.msg})") from None


def require_value(key: str | None, value: str | None, *, unset: str) -> None:
    """A `KEY VALUE` pair of a settings command: a KEY without VALUE is a usage error."""
    from core.errors import InvalidInput

    if key is not None and value is None:
        raise InvalidInput(f"give a VALUE for {key} (or 'default' to {unset})")


def actor() -> str:
    """Who runs this command, for governance events (the OS user)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
