"""A Typer outside the supported range fails with one line naming the range, not a traceback
from deep inside a command (the CLI uses a few of Typer's private Click names)."""

from __future__ import annotations

import subprocess
import sys

from abby_cli.clicklib import SUPPORTED_TYPER

BLOCK = """
import typer._click.utils  # a Typer whose private Click no longer has a name abby uses
del typer._click.utils.make_default_short_help
import abby_cli.main
"""


def test_a_typer_without_its_click_names_is_one_line_naming_the_supported_range() -> None:
    found = subprocess.run(
        [sys.executable, "-c", BLOCK], capture_output=True, text=True, timeout=60
    )
    assert found.returncode == 1, found
    assert found.stderr.strip().splitlines() == [
        f"abby needs typer{SUPPORTED_TYPER} (installed: typer {__import__('typer').__version__});"
        f" reinstall with: pip install 'typer{SUPPORTED_TYPER}'"
    ], found.stderr
