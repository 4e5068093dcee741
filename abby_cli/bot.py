"""`abby bot`: run the bundled Discord bot, or check it without logging in."""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import options, output, runtime
from abby_cli.options import JsonOpt

app = typer.Typer(help="Run the bundled Discord bot.", no_args_is_help=True)


@app.command()
def run(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Boot everything (config, database, RAG store, persona, cogs, command tree), "
            "list the commands it would sync, and exit before logging in.",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Connect to Discord and serve slash commands until SIGTERM or Ctrl-C.

    The token comes from ABBY_DISCORD__TOKEN or discord.token in a 0600 config file, never
    from a flag. Shards: discord.shard_count and discord.shard_ids.
    """
    context = runtime.context()
    # The one place the CLI touches the bot package: this command is the bot's entry point.
    # Nothing else in abby_cli imports bot, and bot never imports abby_cli.
    from bot import app as bot_app

    if dry_run:
        output.show(bot_app.dry_run(context))
    else:
        bot_app.run(context)


# --- per-guild bot settings (the permission model of the moderation commands) -------------


@app.command()
def settings(
    guild: Annotated[str, typer.Option("--guild", "-g", help="The guild (server) id.")],
    key: Annotated[
        str | None, typer.Argument(help="admin_role_ids or moderator_role_ids (omit to show).")
    ] = None,
    value: Annotated[
        str | None,
        typer.Argument(help="Role ids, comma-separated; 'default' goes back to the config's."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show or set which roles run the admin and moderator commands in one guild.

    Stored in the database, over discord.admin_role_ids / discord.moderator_role_ids of the
    config; Manage Server always counts as admin.
    """
    from core.moderation.service import parse_setting

    options.require_value(key, value, unset="use the config's")
    service = runtime.context().moderation
    if key is None or value is None:
        output.show(service.access(guild))
    else:
        output.show(service.update_access({key: parse_setting(key, value)}, guild_id=guild))


@app.command()
def sync(
    guild: Annotated[
        int | None,
        typer.Option("--guild", min=1, max=2**63 - 1, help="Sync to this guild only (instant)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Sync the slash commands with Discord and print what changed."""
    context = runtime.context()
    from bot import app as bot_app

    output.show(bot_app.sync(context, guild), kind="list[CommandChange]")


@app.command("invite-url")
def invite_url(
    client_id: Annotated[
        int | None,
        typer.Option(
            "--client-id",
            min=1,
            max=2**63 - 1,
            help="The application id (default: read from the token).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Print the URL that adds the bot to a server, with the permissions its cogs need."""
    context = runtime.context()
    from bot import app as bot_app

    output.show({"url": bot_app.invite_url(context, client_id)})
