"""`abby bot`: run the bundled Discord bot, or check it without logging in."""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import output, runtime
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
        output.show(bot_app.dry_run(context), title="abby bot run --dry-run")
        return
    bot_app.run(context)
