"""`abby init`: first-run set-up, asking (or, with --no-prompt, taking flags) for the basics."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import JsonOpt


def abby_command() -> str:
    """How cron and systemd should start this Abby: the venv's `abby`, by absolute path
    (quoted for a shell when it holds a space)."""
    import shlex

    beside = Path(sys.executable).parent / "abby"  # not resolved: the venv's bin, not /usr/bin
    if beside.is_file() and os.access(beside, os.X_OK):
        return shlex.quote(os.path.abspath(beside))
    return f"{shlex.quote(os.path.abspath(sys.executable))} -m abby_cli.main"


def init(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Where Abby keeps its data (default: the user data dir)."),
    ] = None,
    mongodb_uri: Annotated[
        str | None,
        typer.Option(
            "--mongodb-uri",
            help="Use MongoDB (checked now, 3 s timeout); omit for the embedded SQLite store.",
        ),
    ] = None,
    database_name: Annotated[
        str, typer.Option("--database-name", help="The MongoDB database name.")
    ] = "abby",
    discord_token: Annotated[
        str | None,
        typer.Option(
            "--discord-token",
            help="Bot token to keep in the (0600) config; or set ABBY_DISCORD__TOKEN later.",
        ),
    ] = None,
    docs: Annotated[
        Path, typer.Option("--docs", help="The folder the printed cron line indexes.")
    ] = Path("/srv/community-docs"),
    skip_model: Annotated[
        bool, typer.Option("--skip-model", help="Do not build the local embedding model now.")
    ] = False,
    no_prompt: Annotated[
        bool, typer.Option("--no-prompt", help="Ask nothing: take the flags and defaults.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Write a new config over an existing set-up (keeps data)."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Set Abby up here: config file, data dir, encryption key, schema, local model.

    Writes the config to --config, else $ABBY_CONFIG, else the user config dir, and prints
    the cron lines and a systemd unit that use it by absolute path.
    """
    from core.config import user_data_dir
    from core.setup import STEPS, SetupRequest, default_config_path, run_setup

    data_dir = data_dir or Path(os.environ.get("ABBY_DATA_DIR") or user_data_dir())
    data_dir, mongodb_uri, discord_token = (
        (data_dir, mongodb_uri, discord_token)
        if no_prompt
        else _ask(data_dir, mongodb_uri, discord_token)
    )
    request = SetupRequest(
        config_path=default_config_path(runtime.state.config_file, os.environ),
        data_dir=data_dir,
        mongodb_uri=mongodb_uri,
        database_name=database_name,
        discord_token=discord_token,
        docs_dir=docs,
        cron_log=Path.home() / "abby-cron.log",
        build_model=not skip_model,
        force=force,
    )
    with output.progress("setting up", unit="steps") as meter:
        result = run_setup(
            request,
            abby=abby_command(),
            environ=os.environ,
            on_step=lambda index, name: meter.step(index, len(STEPS), name),
        )
    output.show(result)


def _ask(
    data_dir: Path, mongodb_uri: str | None, discord_token: str | None
) -> tuple[Path, str | None, str | None]:
    """The basics, asked on stderr: stdout carries only the result (one document with --json)."""
    data_dir = Path(typer.prompt("Data directory", default=str(data_dir), err=True))
    mongodb_uri = typer.prompt(
        "MongoDB URI (empty for the embedded SQLite store)",
        default=mongodb_uri or "",
        show_default=False,
        err=True,
    )
    if not discord_token:
        discord_token = typer.prompt(
            "Discord bot token (empty to set ABBY_DISCORD__TOKEN later)",
            default="",
            show_default=False,
            hide_input=True,
            err=True,
        )
    return data_dir, mongodb_uri, discord_token
