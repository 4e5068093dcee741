"""`abby persona`: the bot's voice."""

from __future__ import annotations

from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import JsonOpt

app = typer.Typer(help="Show the bot's personas.", no_args_is_help=True)


@app.command("list")
def list_personas(json_out: JsonOpt = False) -> None:
    """List the built-in personas and those in <data dir>/personas."""
    from core.persona import available_personas

    settings = runtime.settings()
    output.show(
        [
            {"name": n, "active": n == settings.persona.name}
            for n in available_personas(settings.data_dir)
        ]
    )


@app.command()
def show(
    name: Annotated[
        str | None, typer.Argument(help="Persona (default: the configured one).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a persona's system prompt, greetings, dismissals and emoji."""
    from core.persona import load_persona

    settings = runtime.settings()
    output.show(load_persona(name or settings.persona.name, settings.data_dir))


@app.command()
def greet(
    user_name: str,
    action: Annotated[bool, typer.Option("--action", help="Start with an action.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Print a random greeting for USER_NAME in the configured persona's voice."""
    from core.persona import load_persona

    settings = runtime.settings()
    persona = load_persona(settings.persona.name, settings.data_dir)
    output.show({"greeting": persona.greeting(user_name, include_action=action)})
