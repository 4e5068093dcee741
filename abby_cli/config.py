"""`abby config`: show the effective settings (secrets masked) and validate a file."""

from __future__ import annotations

import typer

from abby_cli import output, runtime
from abby_cli.options import JsonOpt

app = typer.Typer(help="Show and validate the configuration.", no_args_is_help=True)


@app.command()
def show(json_out: JsonOpt = False) -> None:
    """Print the effective configuration, every secret (and URL credential) masked."""
    output.show(runtime.settings())


@app.command()
def validate(json_out: JsonOpt = False) -> None:
    """Load the configuration and report whether it is valid (exit 78 if not)."""
    settings = runtime.settings()
    source = str(settings.config_file) if settings.config_file else "defaults and environment"
    output.show(
        {
            "valid": True,
            "source": source,
            "config_source": settings.config_source,
            "data_dir": str(settings.data_dir),
            "data_dir_source": settings.data_dir_source,
        }
    )
