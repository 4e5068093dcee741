"""`abby bot`: run the bundled Discord bot."""

from __future__ import annotations

import typer

from abby_cli import runtime

app = typer.Typer(help="Run the bundled Discord bot.", no_args_is_help=True)


@app.command()
def run() -> None:
    """Connect to Discord and serve slash commands until interrupted (Ctrl-C)."""
    context = runtime.context()
    # The one place the CLI touches the bot package: this command is the bot's entry point.
    # Nothing else in abby_cli imports bot, and bot never imports abby_cli.
    from bot.app import run as run_bot

    run_bot(context)
