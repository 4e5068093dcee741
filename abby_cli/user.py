"""`abby user`: show and edit user profiles."""

from __future__ import annotations

import typer

from abby_cli import output, runtime
from abby_cli.options import GuildOpt, JsonOpt

app = typer.Typer(help="Show and edit user profiles.", no_args_is_help=True)


@app.command()
def show(user_id: str, guild: GuildOpt = None, json_out: JsonOpt = False) -> None:
    """Show USER_ID's profile in a guild (or the global scope)."""
    output.show(runtime.context().users.require(user_id, guild_id=guild))


@app.command("set")
def set_field(
    user_id: str,
    field: str,
    value: str,
    guild: GuildOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set one profile FIELD (display_name, bio, timezone, locale, pronouns, username)."""
    output.show(runtime.context().users.update(user_id, {field: value}, guild_id=guild))
