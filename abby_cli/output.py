"""Rendering: Rich tables for people, one JSON document for scripts, errors to stderr.

Commands hand their result to `show()`; they never print. In JSON mode (`--json`) stdout
receives exactly one document and nothing else; progress and warnings always go to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from abby_cli import runtime
from core.jsonable import to_jsonable  # also `output.to_jsonable` for the commands

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


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


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    # stderr lines (errors, warnings) never wrap: one error is one line, even in a log file.
    return Console(stderr=stderr, highlight=False, soft_wrap=stderr)


def _cell(value: object) -> str:
    from rich.markup import escape

    value = to_jsonable(value)
    if value is None:
        return "-"
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    return escape(str(value))


def show(result: object, *, kind: object = None) -> None:
    """Render a result by its type (abby_cli.render): one JSON document with --json, TSV with
    --plain, else its tables and lines; then raise its verdict (a refusal) if it has one.

    `kind` names the view of a list (`"list[SessionRecord]"`), which an empty list cannot
    tell. A refusal's error object joins the report's JSON document (one document, always).
    """
    from abby_cli import render

    view = render.lookup(result, kind)
    verdict = view.verdict(result) if view.verdict is not None else None
    for text in view.warnings(result) if view.warnings is not None else ():
        warn(text)
    if runtime.state.json:
        document = view.json(result)
        if isinstance(document, render.Raw):
            write(document.text)
        else:
            if not isinstance(verdict, (int, type(None))) and isinstance(document, dict):
                document = {**document, "error": _error_object(verdict.code, str(verdict))}
                runtime.state.reported = verdict
            write(json.dumps(to_jsonable(document), ensure_ascii=False, indent=2) + "\n")
    else:
        for part in view.human(result):
            _part(part)
    if isinstance(verdict, int):
        import typer

        raise typer.Exit(verdict)
    if verdict is not None:
        raise verdict


def _part(part: object) -> None:
    from abby_cli import render

    state = runtime.state
    if isinstance(part, render.Table):
        payload = to_jsonable(part.payload)
        if state.plain:
            write(plain_text(payload, columns=part.columns))
        else:
            with _stdout():
                _show_table(payload, title=part.title, columns=part.columns, empty=part.empty)
    elif isinstance(part, render.Caution):
        warn(part.text)
    elif isinstance(part, render.Raw):
        write(part.text)
    elif isinstance(part, render.Lines) and state.plain:
        write("".join(f"{item}\n" for item in part.items))
    elif isinstance(part, (render.Lines, render.Message)):
        # A message is for people: not with --plain, nor -q.
        if isinstance(part, render.Lines) or (not state.plain and state.verbosity >= 0):
            items = part.items if isinstance(part, render.Lines) else [part.text]
            with _stdout():
                for item in items:
                    _console().print(item, markup=False)
    else:
        raise render.UnknownResult(f"no way to print a {type(part).__name__}")


def _plain_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    # One record is one line and one value one field, whatever the text holds.
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def plain_text(payload: object, *, columns: Sequence[str] | None = None) -> str:
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
    payload: object, *, title: str | None, columns: Sequence[str] | None, empty: str
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


def stream(record: object, *, columns: Sequence[str]) -> None:
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


def streams() -> bool:
    """Whether text may go to stdout as it arrives (an answer streamed): not with --json."""
    return not runtime.state.json


def warn(text: str) -> None:
    if runtime.state.verbosity >= 0:
        _console(stderr=True).print(f"warning: {text}", style="yellow", markup=False)


def _error_object(code: str, text: str) -> dict[str, str]:
    from core.urls import mask_urls

    # An unexpected error may quote a URL with its credentials.
    return {"code": code, "message": mask_urls(text)}


def error(code: str, text: str, *, shown: bool = False) -> None:
    """Report a failure: the JSON error object on stdout with --json, one line on stderr.
    `shown`: its error object is already in the document a view printed (only the line)."""
    body = _error_object(code, text)
    text = body["message"]
    if runtime.state.json and not runtime.state.stdout_lost and not shown:
        try:
            sys.stdout.write(json.dumps({"error": body}) + "\n")
            sys.stdout.flush()
            return
        except OSError:
            discard_stdout()  # stdout is what failed: say so on stderr instead
    if not (runtime.state.json and shown):
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

    def __init__(
        self, bar: Progress | None, task: TaskID | None, second_task: TaskID | None = None
    ) -> None:
        self._bar = bar
        self._task = task
        self._second_task = second_task

    def __call__(self, done: int, total: int | None = None) -> None:
        self._update(self._task, done, total)

    def second(self, done: int, total: int | None = None) -> None:
        if self._second_task is not None:
            self._update(self._second_task, done, total)

    def step(self, index: int, total: int, name: str) -> None:
        """Step `index` of `total`, named (a set-up's steps)."""
        self.describe(name)
        self(index, total)

    def describe(self, description: str) -> None:
        """A new phase: its name, and a fresh count."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=description, completed=0, total=None)

    def _update(self, task: TaskID | None, done: int, total: int | None) -> None:
        if self._bar is None or task is None:
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
