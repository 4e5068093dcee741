"""`abby storage`: quotas, files, usage and the cleanup cron job."""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import DryRunOpt, GuildOpt, JsonOpt, LevelOpt, LimitOpt, YesOpt
from core.scope import Scope

app = typer.Typer(
    help="Stored images: quotas, listing, deletion, usage, cleanup.", no_args_is_help=True
)

RolesOpt = Annotated[
    str | None, typer.Option("--roles", help="Comma-separated role ids of the member (digits).")
]
MB = 1024 * 1024


@app.command()
def quota(
    user_id: str,
    guild: GuildOpt = None,
    roles: RolesOpt = None,
    level: LevelOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Show USER_ID's storage and daily generation quota."""
    role_list = [r for r in (roles or "").split(",") if r.strip()]
    status = runtime.context().quota.status(user_id, guild, role_list, level).as_dict()
    if runtime.state.json:
        output.show(status)  # the seed's shape
        return
    g, u, d = status["global"], status["user"], status["daily"]
    output.show(
        [
            {"quota": "storage (all users)", "used": f"{g['used_mb']} MB",
             "limit": f"{g['total_mb']} MB", "percent": g["percentage"], "status": g["status"]},
            {"quota": f"storage ({user_id})", "used": f"{u['used_mb']} MB",
             "limit": f"{u['limit_mb']} MB", "percent": u["percentage"], "status": u["status"]},
            {"quota": "images today", "used": d["used"], "limit": d["limit"],
             "percent": round(100 * d["used"] / d["limit"], 1) if d["limit"] else None,
             "status": f"{d['remaining']} left, resets in {d['reset_hours']} h"},
        ],
        title=f"Quota of {user_id}",
    )  # fmt: skip


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
    storage = runtime.context().storage
    scope = Scope.EVERY if all_guilds else Scope.of(guild)
    listing = storage.kept_files if kept else storage.files
    found = listing(user_id, scope, limit=limit)
    rows = [
        {
            "file_id": r.file_id,
            "guild_id": r.guild_id,
            "bytes": r.bytes,
            "kind": "kept" if r.kept else "temporary",
            "created_at": r.created_at,
            "model": r.metadata.get("model"),
            "style": r.metadata.get("style"),
            "seed": r.metadata.get("seed"),
            "path": str(storage.real_root() / r.path),
        }
        for r in found
    ]
    output.show(rows, empty=f"No stored images for {user_id}.")


@app.command()
def delete(
    file: str, yes: YesOpt = False, dry_run: DryRunOpt = False, json_out: JsonOpt = False
) -> None:
    """Delete FILE (a file id, or a path inside the storage root) and its record."""
    storage = runtime.context().storage
    record, path = storage.locate(file)
    target = {
        "file_id": record.file_id if record else None,
        "path": str(path),
        "bytes": record.bytes if record else path.stat().st_size,
        "dry_run": dry_run,
    }
    output.confirm(f"delete {path}", yes=yes, dry_run=dry_run)
    if dry_run:
        output.show(target, title="Would delete")
        return
    deleted = storage.remove(file)
    output.show({**target, "file_id": deleted.file_id, "bytes": deleted.bytes}, title="Deleted")


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
    record = runtime.context().storage.keep(file_id, user, kept=not temporary)
    output.show(
        {"file_id": record.file_id, "user_id": record.user_id,
         "kind": "kept" if record.kept else "temporary"},
        title="Kept" if record.kept else "Temporary",
    )  # fmt: skip


@app.command()
def usage(
    top: Annotated[int, typer.Option("--top", "-n", min=1, max=1000, help="Users to list.")] = 10,
    json_out: JsonOpt = False,
) -> None:
    """Show total storage use (from the records) and the biggest users."""
    context = runtime.context()
    found = context.storage.usage(top)
    limit_mb = context.settings.quota.global_mb
    total_mb = found.total_bytes / MB
    report = {
        "total_mb": round(total_mb, 3),
        "total_files": found.total_files,
        "global_limit_mb": limit_mb,
        "percentage": round(100 * total_mb / limit_mb, 2),
        "top_users": [
            {"user_id": u.owner, "mb": round(u.bytes / MB, 3), "files": u.files}
            for u in found.users
        ],
    }
    if runtime.state.json:
        output.show(report)
        return
    output.show(
        {k: v for k, v in report.items() if k != "top_users"},
        title="Storage usage",
    )
    output.show(report["top_users"], title="Biggest users", empty="No stored files yet.")


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
    output.show(report, title="Cleanup (dry run)" if dry_run else "Cleanup")
    if not (report.files_deleted or report.orphans_removed):
        output.message("Nothing to clean up.")
