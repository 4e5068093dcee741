"""`abby config`: show the effective settings (secrets masked) and validate a file."""

from __future__ import annotations

import typer

from abby_cli import output, runtime
from abby_cli.options import JsonOpt

app = typer.Typer(help="Show and validate the configuration.", no_args_is_help=True)


@app.command()
def show(json_out: JsonOpt = False) -> None:
    """Print the effective configuration, every secret (and URL credential) masked."""
    settings = runtime.settings()
    data = _mask_urls(settings.model_dump(mode="json"))  # SecretStr dumps as '**********'
    sources = {"config_file": settings.config_source, "data_dir": settings.data_dir_source}
    if runtime.state.json:
        output.show({**data, "sources": sources})
        return
    output.lines(
        [
            *_flatten(data, settings),
            f"# config_file from: {sources['config_file']}",
            f"# data_dir from: {sources['data_dir']}",
        ]
    )


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


def _mask_urls(value: object) -> object:
    """The dumped settings with the credentials of every URL inside them masked."""
    from core.urls import mask_urls

    if isinstance(value, dict):
        return {key: _mask_urls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_urls(item) for item in value]
    return mask_urls(value) if isinstance(value, str) else value


def _flatten(data: dict, model: object, prefix: str = "") -> list[str]:
    """`section.key = value` lines: settings sections nest, every other value is one line."""
    import json

    from pydantic import BaseModel

    lines: list[str] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        field = getattr(model, key, None)
        if isinstance(field, BaseModel):
            lines.extend(_flatten(value, field, name + "."))
        else:
            lines.append(f"{name} = {json.dumps(value, ensure_ascii=False)}")
    return lines
