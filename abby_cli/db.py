"""`abby db`: create the schema, report on the document database, copy it elsewhere."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import JsonOpt

app = typer.Typer(help="Initialise and inspect the document database.", no_args_is_help=True)


@app.command()
def init(json_out: JsonOpt = False) -> None:
    """Create every table or index (idempotent; also done on first use)."""
    from abby_cli import render

    context = runtime.context()
    context.init_schema()
    output.show(render.DbStatus(context.status()))


@app.command()
def status(json_out: JsonOpt = False) -> None:
    """Show backend, location, schema versions and record counts."""
    from abby_cli import render

    output.show(render.DbStatus(runtime.context().status()))


@app.command()
def copy(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The target: mongodb://..., mongodb+srv://... or sqlite:///absolute/path.db;"
            " '-' reads it from stdin (keeps a password out of the process list).",
            show_default=False,
        ),
    ],
    merge: Annotated[
        bool,
        typer.Option("--merge", help="Copy into a target that already holds records."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Copy every record of this database to another (SQLite <-> MongoDB), in batches.

    Resumable: after a crash or Ctrl-C, run it again; it continues and never duplicates.
    A target that already holds records is refused unless --merge (existing records are
    kept; differing ones are reported, exit 4). Ends with the bank audit and the record
    counts of both sides. Stop the bot first; then point database.uri at the target.
    Knowledge-base vectors stay in Chroma: run `abby rag reindex` against the new database,
    or keep the same Chroma store.
    """
    from core.mobility import copy_database

    target = sys.stdin.readline(4096).strip() if to == "-" else to
    with output.progress("copying", unit="records") as meter:
        report = copy_database(runtime.context(), target, merge=merge, progress=meter)
    output.show(report)
