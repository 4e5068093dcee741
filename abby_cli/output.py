"""Rendering: Rich tables for people, one JSON document for scripts, errors to stderr.

Commands hand their result to `show()`; they never print. In JSON mode (`--json`) stdout
receives exactly one document and nothing else; progress and warnings always go to stderr.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from abby_cli import runtime


def to_jsonable(value: Any) -> Any:
    """Turn results (dataclasses, datetimes, paths, enums) into plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


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
    with _stdout():
        _show_table(payload, title=title, columns=columns, empty=empty)


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
        for name in names:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(_cell(row.get(name)) for name in names))
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
    """A one-line human message on stdout (suppressed in JSON mode, which prints data only)."""
    if not runtime.state.json and runtime.state.verbosity >= 0:
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


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Any]:
    """A progress bar on stderr; yields `advance(n=1, total=None, description=None)`."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    disabled = runtime.state.verbosity < 0 or not sys.stderr.isatty()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        transient=True,
        disable=disabled,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1, total: int | None = None, description: str | None = None) -> None:
            fields: dict[str, Any] = {"advance": n}
            if total is not None:
                fields["total"] = total
            if description is not None:
                fields["description"] = description
            bar.update(task, **fields)

        yield advance


def confirm(action: str, *, yes: bool) -> None:
    """Ask before a destructive action; without a terminal, refuse unless --yes was given."""
    if yes:
        return
    from core.errors import InvalidInput

    if not sys.stdin.isatty() or runtime.state.json:
        raise InvalidInput(f"refusing to {action} without --yes (no terminal to ask)")
    import typer

    if not typer.confirm(f"{action[:1].upper()}{action[1:]}?", default=False, err=True):
        raise typer.Exit(1)


def lines(items: Iterable[str]) -> None:
    if not runtime.state.json:
        console = _console()
        with _stdout():
            for item in items:
                console.print(item, markup=False)
