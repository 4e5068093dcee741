"""`abby db`: create the schema and report on the document database."""

from __future__ import annotations

import typer

from abby_cli import output, runtime
from abby_cli.options import JsonOpt

app = typer.Typer(help="Initialise and inspect the document database.", no_args_is_help=True)


@app.command()
def init(json_out: JsonOpt = False) -> None:
    """Create every table or index (idempotent; also done on first use)."""
    context = runtime.context()
    context.init_schema()
    output.show(context.status(), columns=["backend", "location", "schema"])


@app.command()
def status(json_out: JsonOpt = False) -> None:
    """Show backend, location, schema versions and record counts."""
    context = runtime.context()
    report = context.status()
    if runtime.state.json:
        output.show(report)
        return
    output.show({k: report[k] for k in ("backend", "location", "schema")})
    output.show(
        [{"table": name, "records": count} for name, count in report["tables"].items()],
        empty="No tables yet (run 'abby db init').",
    )
