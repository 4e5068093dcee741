"""`abby`: the root command, its global options, and the one error handler.

Only typer, the standard library and abby_cli modules are imported at module level; every
group imports the core (and its heavy libraries) inside the commands that need it, so
`abby --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from abby_cli import (
    ask,
    backup,
    bank,
    bot,
    chat,
    clicklib,
    config,
    db,
    doctor,
    image,
    init,
    keys,
    options,
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

if TYPE_CHECKING:
    from core.errors import AbbyError

# Each group's Click command is built only when that group is invoked or completed: Typer
# introspects every command's signature to build it, ~57 ms for all groups, most of a
# `--help`. Order here is the order `abby --help` lists them.
GROUPS: dict[str, typer.Typer] = {
    "config": config.app,
    "db": db.app,
    "persona": persona.app,
    "user": user.app,
    "xp": xp.app,
    "bank": bank.app,
    "rag": rag.app,
    "session": session.app,
    "keys": keys.app,
    "storage": storage.app,
    "image": image.app,
    "telemetry": telemetry.app,
    "bot": bot.app,
}


class _LazyGroups(TyperGroup):
    def list_commands(self, ctx: clicklib.Context) -> list[str]:
        return [*self.commands, *(name for name in GROUPS if name not in self.commands)]

    def get_command(self, ctx: clicklib.Context, cmd_name: str) -> clicklib.Command | None:
        if cmd_name not in self.commands and cmd_name in GROUPS:
            group = typer.main.get_group(GROUPS[cmd_name])
            group.name = cmd_name
            for command in (group, *group.commands.values()):
                if isinstance(command, (TyperGroup, TyperCommand)):
                    command.rich_markup_mode = None  # the same plain, fast help as the root
            self.commands[cmd_name] = group
        found = self.commands.get(cmd_name)
        if found is not None:
            options.add_shared_options(found)  # --plain beside --json, on every command
        return found

    def format_commands(self, ctx: clicklib.Context, formatter: clicklib.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                rows.append(
                    (name, clicklib.make_default_short_help(GROUPS[name].info.help or "", limit))
                )
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="abby",
    cls=_LazyGroups,
    help="Operator toolkit for the Abby Discord bot: XP, bank, RAG, sessions, images, storage.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: Rich help rendering costs more than the rest of start-up
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("init")(init.init)
app.command("doctor")(doctor.doctor)
app.command("ask")(ask.ask)
app.command("chat")(chat.chat)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)


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


def _not_utf8(args: list[str]) -> str | None:
    """One line naming the first argument that is not valid UTF-8, else None.

    Python hands undecodable argv bytes over as lone surrogates ('\\udcff' for 0xff); they
    would reach the database, Chroma or stdout and fail there with a UnicodeEncodeError.
    """
    for number, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            try:
                shown = os.fsencode(arg).decode("utf-8", "backslashreplace")
            except UnicodeError:
                shown = arg.encode("utf-8", "backslashreplace").decode("ascii")
            return (
                f"argument {number} ('{shown[:60]}') is not valid UTF-8;"
                " give text, ids and paths in UTF-8"
            )
    return None


_SQLITE_STORAGE_MESSAGES = (
    ("database or disk is full", "ENOSPC"),
    ("attempt to write a readonly database", "EROFS"),
)


def _storage_failure(exc: BaseException) -> AbbyError | None:
    """The typed disk-full / read-only error behind an unexpected exception, if there is one.

    The last line of defence: the core classifies what it writes, but an OSError or a
    sqlite3 error from a library (Chroma, a file a command writes) can still get here, as
    the exception itself or as its cause.
    """
    from core.errors import StorageUnavailable, storage_error

    settings = runtime.state._settings
    where = settings.data_dir if settings is not None else None
    sqlite3 = sys.modules.get("sqlite3")
    seen: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; never loop on a cycle
        if seen is None:
            return None
        typed = storage_error(seen, where)
        if typed is not None:
            return typed
        if sqlite3 is not None and isinstance(seen, sqlite3.Error) and settings is not None:
            from core.db.sqlite import _translate

            translated = _translate(seen, settings.sqlite_path)
            if isinstance(translated, StorageUnavailable):
                return translated
        # Chroma's Rust core reports SQLite's own message in an exception of its own.
        for message, errno_name in _SQLITE_STORAGE_MESSAGES:
            if message in str(seen):
                import errno

                number = getattr(errno, errno_name)
                return storage_error(OSError(number, os.strerror(number)), where)
        seen = seen.__cause__ or seen.__context__
    return None


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and turn every failure into an exit code."""
    from abby_cli.clicklib import ClickException, NoArgsIsHelpError
    from core.errors import AbbyError, ExitCode

    args = sys.argv[1:] if argv is None else list(argv)
    bad_text = _not_utf8(args)
    if bad_text is not None:
        runtime.state.json = "--json" in args
        output.error("invalid_input", bad_text)
        runtime.state.json = False
        sys.exit(ExitCode.USAGE)
    command = typer.main.get_command(app)
    code: int = ExitCode.OK
    try:
        result = command.main(args=args, prog_name="abby", standalone_mode=False)
        code = result if isinstance(result, int) else ExitCode.OK
    except AbbyError as exc:
        output.error(exc.code, str(exc), shown=exc is runtime.state.reported)
        code = exc.exit_code
    except NoArgsIsHelpError as exc:
        sys.stderr.write(exc.format_message() + "\n")
        code = ExitCode.USAGE
    except ClickException as exc:  # usage errors: bad option, missing argument, bad value
        # Parsing stopped before --json's callback ran: the error is JSON all the same.
        runtime.state.json = runtime.state.json or "--json" in args
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
        typed = _storage_failure(exc)
        if typed is not None:
            output.error(typed.code, str(typed))
            code = typed.exit_code
        else:
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
