"""`abby telemetry`: read the events file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import JsonOpt

if TYPE_CHECKING:
    from core.telemetry.events import EventLog

app = typer.Typer(help="Read telemetry events.", no_args_is_help=True)


@app.command()
def tail(
    n: Annotated[
        int, typer.Option("-n", "--lines", min=1, max=100_000, help="Events to show.")
    ] = 20,
    event_type: Annotated[
        str | None, typer.Option("--type", "-t", help="Only events of this type.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show the last N events; with --follow, keep printing new ones (JSON lines with --json)."""
    from core.telemetry.events import EventLog

    # "No events yet." read from the wrong data dir would mislead: say where it looked.
    runtime.require_data(runtime.settings().events_path)
    events = EventLog.from_settings(runtime.settings())
    if follow:  # a stream: one line per event (a JSON line each with --json), until Ctrl-C
        _follow(events, n, event_type)
    else:
        output.show(events.tail(n, event_type=event_type), kind="Events")


def _follow(events: EventLog, n: int, event_type: str | None) -> None:
    from abby_cli import render

    try:
        for event in events.follow(last=n, event_type=event_type):
            output.stream(event, columns=render.EVENT_COLUMNS.split())
    except KeyboardInterrupt:
        pass
