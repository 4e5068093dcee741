"""`abby user`: show and edit user profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abby_cli import options, output, runtime
from abby_cli.options import DryRunOpt, GuildOpt, JsonOpt, YesOpt, actor, output_path_option

app = typer.Typer(help="Show and edit user profiles.", no_args_is_help=True)


@app.command()
def show(user_id: str, guild: GuildOpt = None, json_out: JsonOpt = False) -> None:
    """Show USER_ID's profile in a guild (or the global scope)."""
    output.show(runtime.context().users.require(user_id, guild_id=guild))


@app.command()
def add(
    user_id: str,
    name: Annotated[str, typer.Option("--name", "-n", help="The member's username.")],
    guild: GuildOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create USER_ID's profile (in a guild, or the global scope); exit 2 if it exists."""
    output.show(runtime.context().users.add(user_id, name, guild_id=guild))


@app.command("set")
def set_field(
    user_id: str,
    field: str,
    value: Annotated[str | None, typer.Argument(help="The new value (omit with --unset).")] = None,
    unset: Annotated[
        bool, typer.Option("--unset", help="Clear FIELD instead (not username).")
    ] = False,
    guild: GuildOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set (or --unset) one profile FIELD: display_name, bio, timezone, locale, pronouns,
    username. A user without a profile gets one."""
    from core.errors import InvalidInput

    if unset == (value is not None):
        raise InvalidInput("give either a VALUE or --unset, not both nor neither")
    output.show(
        runtime.context().users.update(user_id, {field: value}, guild_id=guild, create=not unset)
    )


# --- a member's data (core.users.privacy) -------------------------------------------------

PrivacyGuildOpt = Annotated[
    str | None,
    typer.Option("--guild", "-g", help="Only this guild; omit for every scope the member is in."),
]


@app.command("export")
def export_member(
    user_id: str,
    guild: PrivacyGuildOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to FILE (mode 0600).", callback=output_path_option
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Print everything held about USER_ID as one JSON document (profile, XP, balance and
    ledger, sessions decrypted, file records, ingested documents, quota use).

    Recorded as a governance event. Exit 3 when nothing is held about the member.
    """
    from abby_cli import render
    from core.paths import atomic_write
    from core.users.privacy import export_json

    scope = options.scope_option(guild, every=True)
    # The same file a member gets from the bot's /privacy export.
    data = export_json(runtime.context().privacy.export(user_id, scope=scope, actor=actor()))
    if out is not None:
        atomic_write(out.expanduser(), data, mode=0o600)
    output.show(
        render.Written(
            data.decode("utf-8"),
            out,
            receipt={"user_id": user_id, "written": str(out)},
            said=f"wrote the data held about {user_id} to {out}",
        )
    )


@app.command()
def forget(
    user_id: str,
    guild: PrivacyGuildOpt = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Erase USER_ID's profile, XP, sessions and stored files; the ledger keeps its rows
    under a stable pseudonym so the books still balance.

    Safe to rerun: an erasure interrupted by a crash is finished by the next run. Recorded
    as a governance event without the id. Exit 3 when nothing is held about the member.
    """
    where = f" in guild {guild}" if guild else ""
    if not dry_run:
        output.confirm(f"erase the data of member {user_id}{where}", yes=yes)
    scope = options.scope_option(guild, every=True)
    output.show(
        runtime.context().privacy.forget(user_id, scope=scope, dry_run=dry_run, actor=actor())
    )
