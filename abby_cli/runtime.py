"""Process-wide CLI state set by the root callback and the `--json` option.

The root callback records the global options; commands reach the core through `context()`,
which loads the settings and opens the stores once, on first use, so `--help` never does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.config import Settings
    from core.context import AppContext


@dataclass
class Runtime:
    config_file: Path | None = None
    verbosity: int = 0  # -1 quiet, 0 normal, 1+ verbose
    json: bool = False
    plain: bool = False  # --plain: tab-separated, untruncated (abby_cli.output.plain_text)
    stdout_lost: bool = False  # writing stdout failed (disk full): errors go to stderr
    # The refusal whose error object a view already put in its --json document.
    reported: BaseException | None = field(default=None, repr=False)
    _settings: Settings | None = field(default=None, repr=False)
    _context: AppContext | None = field(default=None, repr=False)


state = Runtime()

# The commands that may create a new store where none exists (the data dir, abby.db, a new
# MongoDB database). Every other command only reads or maintains: with no Abby data where
# the settings point it exits 78 naming the place, rather than auditing, cleaning or
# reporting on an empty store it just made (cron once "passed" an audit that way).
CREATES_STORE = frozenset(
    {
        "init",
        "db init",
        "user add",
        "user set",
        "xp add",
        "xp import-mee6",
        "xp settings",
        "xp rewards add",
        "bank add",
        "bank transfer",
        "rag ingest",
        "keys generate",
        "image generate",
        "image edit",
        "image upscale",
        "ask",
        "chat",
        "bot run",
        "bot settings",
    }
)


def _may_create_store() -> bool:
    """Whether the command being run is in CREATES_STORE (True outside a command)."""
    from abby_cli.clicklib import get_current_context

    ctx = get_current_context(silent=True)
    if ctx is None:
        return True
    words = ctx.command_path.split()[1:]  # drop the program name
    return " ".join(words) in CREATES_STORE


def settings() -> Settings:
    """Load (once) the settings from the global options, environment and files."""
    if state._settings is None:
        from core.config import load_settings

        state._settings = load_settings(state.config_file)
    return state._settings


def context() -> AppContext:
    """Open (once) the core application context: stores, services, logging."""
    if state._context is None:
        from core.context import has_existing_data, open_context
        from core.telemetry import setup_logging

        current_settings = settings()
        create_store = _may_create_store()
        log_dir: Path | None = current_settings.log_dir
        if not create_store and current_settings.logging.dir is None:
            # A reader where there is no store logs to the console only: the log file would
            # create the data dir. It exits 78 when it reaches the database (after its
            # arguments were checked, so bad input is still exit 2).
            if not has_existing_data(current_settings):
                log_dir = None
        level = {-1: "ERROR", 0: None, 1: "INFO"}.get(state.verbosity, "DEBUG")
        setup_logging(
            level or current_settings.logging.level,
            log_dir,
            settings=current_settings,
            console_level=level or "WARNING",
        )
        state._context = open_context(current_settings, create_store=create_store)
    return state._context


def require_data(*found_if: Path) -> None:
    """For a reader that skips the stores (telemetry tail): exit 78 where no Abby data is,
    unless one of the files it reads (`found_if`) exists."""
    from core.context import require_existing_data

    if not any(path.exists() for path in found_if):
        require_existing_data(settings())


def close() -> None:
    if state._context is not None:
        state._context.close()
        state._context = None


def reset() -> None:
    """Forget every option and close the context (tests run several commands per process)."""
    global state
    close()
    state = Runtime()
