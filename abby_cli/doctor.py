"""`abby doctor`: check configuration, data dir, database and optional services."""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import JsonOpt


def doctor(
    fix: Annotated[
        bool,
        typer.Option("--fix", help="Make files group or others can read owner-only (0600 / 0700)."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Check that Abby can run here; exit 1 when a required check fails."""
    from core.doctor import run_checks

    output.show(run_checks(runtime.settings(), runtime.context, fix=fix), kind="list[Check]")
