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
    _settings: Settings | None = field(default=None, repr=False)
    _context: AppContext | None = field(default=None, repr=False)


state = Runtime()


def settings() -> Settings:
    """Load (once) the settings from the global options, environment and files."""
    if state._settings is None:
        from core.config import load_settings

        state._settings = load_settings(state.config_file)
    return state._settings


def context() -> AppContext:
    """Open (once) the core application context: stores, services, logging."""
    if state._context is None:
        from core.context import open_context
        from core.telemetry import setup_logging

        current_settings = settings()
        level = {-1: "ERROR", 0: None, 1: "INFO"}.get(state.verbosity, "DEBUG")
        setup_logging(
            level or current_settings.logging.level,
            current_settings.log_dir,
            settings=current_settings,
            console_level=level or "WARNING",
        )
        state._context = open_context(current_settings)
    return state._context


def close() -> None:
    if state._context is not None:
        state._context.close()
        state._context = None


def reset() -> None:
    """Forget every option and close the context (tests run several commands per process)."""
    global state
    close()
    state = Runtime()
