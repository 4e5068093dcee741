"""`abby storage`: quotas, files, usage and the cleanup cron job."""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import options, output, runtime
from abby_cli.options import DryRunOpt, GuildOpt, JsonOpt, LevelOpt, LimitOpt, YesOpt

app = typer.Typer(
    help="Stored images: quotas, listing, deletion, usage, cleanup.", no_args_is_help=True
)

RolesOpt = Annotated[
    str | None, typer.Option("--roles", help="Comma-separated role ids of the member (digits).")
]


@app.command()
def quota(
    user_id: str,
    guild: GuildOpt = None,
    roles: RolesOpt = None,
    level: LevelOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Show USER_ID's storage and daily generation quota."""
    quota = runtime.context().quota
    output.show(quota.status(user_id, guild, options.parse_ids(roles), level))


@app.command("list")
def list_files(
    user_id: str,
    guild: GuildOpt = None,
    all_guilds: Annotated[
        bool, typer.Option("--all", help="Files of every guild and the global scope.")
    ] = False,
    kept: Annotated[
        bool, typer.Option("--kept", help="Only kept images (the member's /gallery).")
    ] = False,
    limit: LimitOpt = 100,
    json_out: JsonOpt = False,
) -> None:
    """List USER_ID's stored images, newest first (prompts are not shown)."""
    from abby_cli import render

    storage = runtime.context().storage
    scope = options.scope_option(None if all_guilds else guild, every=all_guilds)
    found = (storage.kept_files if kept else storage.files)(user_id, scope, limit=limit)
    output.show(render.Files(found, storage.real_root(), user_id))


@app.command()
def delete(
    file: str, yes: YesOpt = False, dry_run: DryRunOpt = False, json_out: JsonOpt = False
) -> None:
    """Delete FILE (a file id, or a path inside the storage root) and its record."""
    from abby_cli import render

    storage = runtime.context().storage
    record, path = storage.locate(file)
    output.confirm(f"delete {path}", yes=yes, dry_run=dry_run)
    gone = record if dry_run else storage.remove(file)
    size = path.stat().st_size if gone is None else gone.bytes
    output.show(
        render.FileDeletion(None if gone is None else gone.file_id, str(path), size, dry_run)
    )


@app.command()
def keep(
    file_id: str,
    user: Annotated[str, typer.Option("--user", "-u", help="The member who owns the file.")],
    temporary: Annotated[
        bool, typer.Option("--temporary", help="Move it back to temporary retention.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Keep FILE_ID of a member: cleanup then leaves it to storage.kept_retention_days.

    The member's Keep button does the same. Exit 3 when the member has no such file.
    """
    output.show(runtime.context().storage.keep(file_id, user, kept=not temporary))


@app.command()
def usage(
    top: Annotated[int, typer.Option("--top", "-n", min=1, max=1000, help="Users to list.")] = 10,
    json_out: JsonOpt = False,
) -> None:
    """Show total storage use (from the records) and the biggest users."""
    from abby_cli import render

    context = runtime.context()
    output.show(render.Usage(context.storage.usage(top), context.settings.quota.global_mb))


@app.command()
def cleanup(dry_run: DryRunOpt = False, yes: YesOpt = False, json_out: JsonOpt = False) -> None:
    """Apply retention and remove orphans (the cron job); safe while the bot runs.

    Temporary images older than storage.temp_retention_days and kept ones older than
    storage.kept_retention_days (0 = forever) are deleted; files without a record and
    records without a file are removed. Exit 0, also when there was nothing to do.
    """
    storage = runtime.context().storage
    output.confirm("delete expired and orphaned images", yes=yes, dry_run=dry_run)
    with output.progress("cleaning storage", unit="files") as meter:
        report = storage.cleanup(dry_run=dry_run, progress=meter)
    output.show(report)
