"""The Click names the CLI needs that Typer does not export: its group class's context, the
usage-error types, the current context and the short-help helper.

Typer 0.29 vendors Click as the private `typer._click` (a separate `click` install is not
the one Typer's commands use), so these come from there, in this one module. A Typer without
it fails here with one line naming the supported range, not with a traceback deep in a
command; pyproject pins that range.
"""

from __future__ import annotations

import typer

SUPPORTED_TYPER = ">=0.29,<0.30"

try:
    from typer._click.core import Command, Context
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
    from typer._click.formatting import HelpFormatter
    from typer._click.globals import get_current_context
    from typer._click.utils import make_default_short_help
except ImportError:  # pragma: no cover - only with an unsupported typer
    raise SystemExit(
        f"abby needs typer{SUPPORTED_TYPER} (installed: typer {typer.__version__});"
        f" reinstall with: pip install 'typer{SUPPORTED_TYPER}'"
    ) from None

__all__ = [
    "SUPPORTED_TYPER",
    "ClickException",
    "Command",
    "Context",
    "HelpFormatter",
    "NoArgsIsHelpError",
    "get_current_context",
    "make_default_short_help",
]
