"""Options shared by every command, declared once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import runtime


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
YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Do it without asking (required without a terminal).")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Show what would change and change nothing.")
]
