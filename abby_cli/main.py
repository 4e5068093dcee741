"""`abby`: the root command, its global options, and the one error handler.

Only typer, the standard library and abby_cli modules are imported at module level; every
group imports the core (and its heavy libraries) inside the commands that need it, so
`abby --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from abby_cli import (
    ask,
    bank,
    bot,
    config,
    db,
    doctor,
    image,
    keys,
    output,
    persona,
    rag,
    runtime,
    session,
    storage,
    telemetry,
    user,
    xp,
)

app = typer.Typer(
    name="abby",
    help="Operator toolkit for the Abby Discord bot: XP, bank, RAG, sessions, images, storage.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: Rich help rendering costs more than the rest of start-up
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config.app, name="config")
app.add_typer(db.app, name="db")
app.command("doctor")(doctor.doctor)
app.command("ask")(ask.ask)
app.add_typer(persona.app, name="persona")
app.add_typer(user.app, name="user")
app.add_typer(xp.app, name="xp")
app.add_typer(bank.app, name="bank")
app.add_typer(rag.app, name="rag")
app.add_typer(telemetry.app, name="telemetry")
app.add_typer(keys.app, name="keys")
app.add_typer(session.app, name="session")
app.add_typer(storage.app, name="storage")
app.add_typer(image.app, name="image")
app.add_typer(bot.app, name="bot")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"abby {version('abby')}")
        except PackageNotFoundError:
            typer.echo("abby (not installed)")
        raise typer.Exit()


@app.callback()
def root(
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="YAML config file (default: $ABBY_CONFIG, ./config.yaml)."
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output; -vv for debug.")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    runtime.state.config_file = config_file
    runtime.state.verbosity = -1 if quiet else verbose


def _log_crash() -> None:
    """Put the traceback in the log file, if a command got as far as opening one."""
    import logging

    from core.telemetry.logs import CRASH_LOGGER

    if logging.getLogger().handlers:  # without handlers, logging would print it on stderr
        logging.getLogger(CRASH_LOGGER).error("unexpected failure", exc_info=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and turn every failure into an exit code."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    from core.errors import AbbyError, ExitCode

    command = typer.main.get_command(app)
    code: int = ExitCode.OK
    try:
        result = command.main(args=argv, prog_name="abby", standalone_mode=False)
        code = result if isinstance(result, int) else ExitCode.OK
    except AbbyError as exc:
        output.error(exc.code, str(exc))
        code = exc.exit_code
    except NoArgsIsHelpError as exc:
        sys.stderr.write(exc.format_message() + "\n")
        code = ExitCode.USAGE
    except ClickException as exc:  # usage errors: bad option, missing argument, bad value
        hint = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            hint = f" (see '{ctx.command_path} --help')"
        output.error("usage", exc.format_message() + hint)
        code = exc.exit_code if exc.exit_code != 1 else ExitCode.USAGE
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        output.error("aborted", "aborted")
        code = 130
    except Exception as exc:  # noqa: BLE001 - the one handler for surprises
        _log_crash()
        if os.environ.get("ABBY_DEBUG") == "1" or runtime.state.verbosity > 0:
            import traceback

            traceback.print_exc()
        output.error("internal", f"unexpected {type(exc).__name__}: {exc}")
        code = ExitCode.FAILURE
    finally:
        runtime.close()
    sys.exit(int(code))


if __name__ == "__main__":
    main()
