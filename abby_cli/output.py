"""Rendering: Rich tables for people, one JSON document for scripts, errors to stderr.

Commands hand their result to `show()`; they never print. In JSON mode (`--json`) stdout
receives exactly one document and nothing else; progress and warnings always go to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from abby_cli import runtime
from core.jsonable import to_jsonable  # also `output.to_jsonable` for the commands


@contextmanager
def _stdout() -> Iterator[None]:
    """Writes to stdout inside: a full or read-only disk behind a redirect (cron's
    `>> abby-cron.log`) becomes the typed exit-75 error naming stdout, not a traceback."""
    from core.errors import storage_error

    try:
        yield
        sys.stdout.flush()
    except OSError as exc:
        typed = storage_error(exc, "standard output")
        if typed is None:
            raise
        discard_stdout()
        raise typed from exc


def write(text: str) -> None:
    """Write raw text (a transcript, a stream piece) to stdout."""
    with _stdout():
        sys.stdout.write(text)


def _console(stderr: bool = False):  # noqa: ANN202 - rich is imported lazily
    from rich.console import Console

    # stderr lines (errors, warnings) never wrap: one error is one line, even in a log file.
    return Console(stderr=stderr, highlight=False, soft_wrap=stderr)


def _cell(value: Any) -> str:
    from rich.markup import escape

    value = to_jsonable(value)
    if value is None:
        return "-"
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    return escape(str(value))


def show(
    data: Any,
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    empty: str = "Nothing to show.",
) -> None:
    """Render a result: a record as a key/value table, a list of records as a table."""
    payload = to_jsonable(data)
    if runtime.state.json:
        write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    if runtime.state.plain:
        write(plain_text(payload, columns=columns))
        return
    with _stdout():
        _show_table(payload, title=title, columns=columns, empty=empty)


def _plain_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    # One record is one line and one value one field, whatever the text holds.
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def plain_text(payload: Any, *, columns: Sequence[str] | None = None) -> str:
    """--plain: tab-separated, never truncated; a header line, then one line per record
    (a single record is `key<TAB>value` lines). Nothing for an empty list."""
    if isinstance(payload, list):
        rows = [row if isinstance(row, dict) else {"value": row} for row in payload]
        if not rows:
            return ""
        names = list(columns or dict.fromkeys(k for row in rows for k in row))
        out = ["\t".join(names)]
        out += ["\t".join(_plain_cell(row.get(name)) for name in names) for row in rows]
        return "\n".join(out) + "\n"
    if isinstance(payload, dict):
        keys = columns or list(payload)
        return "".join(f"{key}\t{_plain_cell(payload.get(key))}\n" for key in keys)
    return _plain_cell(payload) + "\n"


def is_id_column(name: str) -> bool:
    """Columns that hold ids people copy into the next command: they never wrap."""
    return name == "id" or name.endswith("_id")


def _show_table(
    payload: Any, *, title: str | None, columns: Sequence[str] | None, empty: str
) -> None:
    from rich.table import Table

    console = _console()
    if isinstance(payload, list):
        if not payload:
            console.print(empty)
            return
        rows = [row if isinstance(row, dict) else {"value": row} for row in payload]
        names = list(columns or dict.fromkeys(k for row in rows for k in row))
        table = Table(title=title, header_style="bold")
        cells = [[_cell(row.get(name)) for name in names] for row in rows]
        for index, name in enumerate(names):
            if is_id_column(name):
                # Full width, on one line: the other columns give way, never the id.
                width = max(len(name), *(len(line[index]) for line in cells))
                table.add_column(name, no_wrap=True, min_width=width, overflow="ignore")
            else:
                table.add_column(name, overflow="fold")
        for line in cells:
            table.add_row(*line)
        console.print(table)
    elif isinstance(payload, dict):
        table = Table(title=title, show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key in columns or payload:
            table.add_row(_cell(key), _cell(payload.get(key)))
        console.print(table)
    else:
        console.print(_cell(payload))


def stream(record: Any, *, columns: Sequence[str]) -> None:
    """One record as one line, flushed at once: a JSON line with --json (for --follow)."""
    payload = to_jsonable(record)
    if runtime.state.json:
        write(json.dumps(payload, ensure_ascii=False) + "\n")
    else:
        write(
            "  ".join(
                json.dumps(payload.get(c), ensure_ascii=False)
                if isinstance(payload.get(c), dict)
                else str(payload.get(c, "-"))
                for c in columns
            )
            + "\n"
        )


def message(text: str) -> None:
    """A one-line human message on stdout (not with --json or --plain: data only)."""
    if not (runtime.state.json or runtime.state.plain) and runtime.state.verbosity >= 0:
        with _stdout():
            _console().print(text, markup=False)


def warn(text: str) -> None:
    if runtime.state.verbosity >= 0:
        _console(stderr=True).print(f"warning: {text}", style="yellow", markup=False)


def error(code: str, text: str) -> None:
    """Report a failure: the JSON error object on stdout with --json, one line on stderr."""
    from core.urls import mask_urls

    text = mask_urls(text)  # an unexpected error may quote a URL with its credentials
    if runtime.state.json and not runtime.state.stdout_lost:
        try:
            sys.stdout.write(json.dumps({"error": {"code": code, "message": text}}) + "\n")
            sys.stdout.flush()
            return
        except OSError:
            discard_stdout()  # stdout is what failed: say so on stderr instead
    _console(stderr=True).print(f"error: {text}", style="red", markup=False)


def discard_stdout() -> None:
    """Point stdout at /dev/null once writing to it failed, so the interpreter's final
    flush of what is still buffered does not print a second error at exit."""
    import os

    runtime.state.stdout_lost = True
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass


class Meter:
    """What a command hands the core as its progress callback: `meter(done, total)`.

    The core reports absolute counts of the unit of work (chunks embedded, messages
    re-encrypted, files checked, records imported) through that one protocol; `second`
    is an optional second line (ingest's files), `describe()` renames the phase.
    """

    def __init__(self, bar: Any, task: Any, second_task: Any = None) -> None:
        self._bar = bar
        self._task = task
        self._second_task = second_task

    def __call__(self, done: int, total: int | None = None) -> None:
        self._update(self._task, done, total)

    def second(self, done: int, total: int | None = None) -> None:
        if self._second_task is not None:
            self._update(self._second_task, done, total)

    def describe(self, description: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=description)

    def _update(self, task: Any, done: int, total: int | None) -> None:
        if self._bar is None:
            return
        fields: dict[str, Any] = {"completed": done}
        if total is not None:
            fields["total"] = total
        self._bar.update(task, **fields)


def progress_shown() -> bool:
    """Bars only for a person watching: not under --json, --plain or -q, nor when stderr is a
    file or a pipe (cron's log would fill with redraws)."""
    state = runtime.state
    return not (state.json or state.plain or state.verbosity < 0) and sys.stderr.isatty()


@contextmanager
def progress(
    description: str, *, unit: str = "", second: str | None = None, second_unit: str = ""
) -> Iterator[Meter]:
    """A progress bar on stderr measuring `unit` (and a `second` line measuring
    `second_unit`); yields the Meter to pass to the core."""
    if not progress_shown():
        yield Meter(None, None)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None, unit=unit)
        second_task = bar.add_task(second, total=None, unit=second_unit) if second else None
        yield Meter(bar, task, second_task)


def confirm(action: str, *, yes: bool, dry_run: bool = False) -> None:
    """The one guard of every destructive command; call it before changing anything.

    A dry run never asks (it changes nothing). --yes goes ahead. Without a terminal (cron,
    a pipe) or under --json it refuses, exit 2, naming --yes. Answering no is Cancelled,
    exit 4 with one line: the operator's choice, not a failure of Abby (exit 1).
    """
    if yes or dry_run:
        return
    from core.errors import Cancelled, InvalidInput

    if not sys.stdin.isatty() or runtime.state.json:
        raise InvalidInput(f"refusing to {action} without --yes (no terminal to ask)")
    import typer

    try:
        agreed = typer.confirm(f"{action[:1].upper()}{action[1:]}?", default=False, err=True)
    except typer.Abort:
        agreed = False  # Ctrl-D at the prompt is a no
    if not agreed:
        raise Cancelled(f"cancelled: nothing was changed (did not {action})")


def lines(items: Iterable[str]) -> None:
    if runtime.state.plain:
        write("".join(f"{item}\n" for item in items))
    elif not runtime.state.json:
        console = _console()
        with _stdout():
            for item in items:
                console.print(item, markup=False)
