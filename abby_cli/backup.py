"""`abby backup` and `abby restore`: one verified archive of everything Abby holds."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from abby_cli import output, runtime
from abby_cli.options import DryRunOpt, JsonOpt, YesOpt, output_path_option


def backup(
    out: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Archive to write (default: abby-<UTC time>.tar).",
            callback=output_path_option,
        ),
    ] = None,
    include_keys: Annotated[
        bool,
        typer.Option("--include-keys", help="Also store the encryption keys (see the warning)."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write one archive (mode 0600) of the documents, vectors, stored files and settings
    (secrets masked), consistent while the bot and cron keep writing.

    Without --include-keys the archive holds no key: keep the keys apart from it.
    """
    from datetime import UTC, datetime

    from core.backup import create_backup

    if include_keys:
        output.warn("--include-keys: this archive can decrypt every session; guard it as the keys")
    target = out or Path(f"abby-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.tar")
    with _bar("backing up") as meter:
        report = create_backup(
            runtime.context(),
            target,
            include_keys=include_keys,
            progress=meter,
            on_phase=meter.describe,
        )
    output.show(report)


def restore(
    archive: Annotated[Path, typer.Argument(help="The archive `abby backup` wrote.")],
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Restore ARCHIVE into the data dir (and database) of the current settings.

    Every checksum is verified before anything is touched. An empty data dir is filled; a
    data dir that holds data is replaced only with --yes, and only once the new copy is
    complete (the old one is moved aside, not deleted). Ends with a bank audit. Safe to
    rerun after a crash.
    """
    from core.backup import restore_backup

    with _bar("verifying") as meter:
        report = restore_backup(
            runtime.settings(),
            archive,
            yes=yes,
            dry_run=dry_run,
            progress=meter,
            on_phase=meter.describe,
        )
    if report.keys.startswith("WARNING"):
        output.warn(report.keys.removeprefix("WARNING: "))
    output.show(report)
    if report.audit_ok is False:
        from core.errors import AuditFailed

        raise AuditFailed("the restored books do not balance: run `abby bank audit`")


class _Meter:
    """The core's progress protocol, `meter(done, total)` plus `describe(phase)`, on a bar."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar, self._task = bar, task

    def __call__(self, done: int, total: int | None = None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)

    def describe(self, phase: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=phase, completed=0, total=None)


@contextmanager
def _bar(description: str) -> Iterator[_Meter]:
    """A transient bar on stderr, only for a person watching (not --json, -q or a pipe)."""
    if runtime.state.json or runtime.state.verbosity < 0 or not sys.stderr.isatty():
        yield _Meter()
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield _Meter(bar, bar.add_task(description, total=None))
