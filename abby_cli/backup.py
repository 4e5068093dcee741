"""`abby backup` and `abby restore`: one verified archive of everything Abby holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    with output.progress("backing up") as meter:
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

    with output.progress("verifying") as meter:
        report = restore_backup(
            runtime.settings(),
            archive,
            yes=yes,
            dry_run=dry_run,
            progress=meter,
            on_phase=meter.describe,
        )
    output.show(report)
