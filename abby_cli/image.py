"""`abby image`: generate, edit and upscale images through Stability AI, stored for a user."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import MAX_LEVEL, GuildOpt, JsonOpt, output_path_option

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from abby_cli.render import StoredImage
    from core.context import AppContext
    from core.images.generation import GenerationResult, Requester

app = typer.Typer(help="Generate, edit and upscale images (Stability AI).", no_args_is_help=True)

UserReq = Annotated[str, typer.Option("--user", "-u", help="Discord user id (charged, owner).")]
RolesOpt = Annotated[
    str | None, typer.Option("--roles", help="Comma-separated role ids (raise the limit).")
]
LevelOpt = Annotated[int, typer.Option("--level", min=0, max=MAX_LEVEL, help="The member's level.")]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Also write a copy of the image here.", callback=output_path_option
    ),
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="0-4294967294; omit for random.")]


def _requester(user: str, guild: str | None, roles: str | None, level: int) -> Requester:
    from core.images.generation import requester

    return requester(user, guild, (roles or "").split(","), level)


def _read_image(path: Path, limit: int) -> bytes:
    from core.images.validation import read_image_file

    return read_image_file(path, limit)


def _copied(result: GenerationResult, out: Path | None) -> StoredImage:
    """The stored image, with a copy written to `out` (-o) when one was asked for."""
    from abby_cli import render

    if out is not None:
        from core.errors import InvalidInput

        try:
            out.write_bytes(Path(result.path).read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot write {out}: {exc.strerror}") from None
    return render.StoredImage(result, out)


def _image_or_stored(context: AppContext, image: str) -> tuple[bytes, str | None]:
    """IMAGE read from a file, or from storage when it names no file and looks like a file id."""
    if not Path(image).exists() and len(image) == 32 and os.sep not in image:
        return context.storage.read(image), image
    return _read_image(Path(image), context.settings.storage.max_image_bytes), None


def _run(coroutine: Coroutine[object, object, GenerationResult]) -> GenerationResult:
    import asyncio

    with output.progress("waiting for Stability"):
        return asyncio.run(coroutine)


@app.command()
def generate(
    prompt: str,
    user: UserReq,
    guild: GuildOpt = None,
    style: Annotated[
        str | None, typer.Option("--style", help="A style preset, e.g. anime.")
    ] = None,
    aspect: Annotated[str | None, typer.Option("--aspect", help="e.g. 16:9, 1:1, 9:16.")] = None,
    seed: SeedOpt = None,
    model: Annotated[str | None, typer.Option("--model", help="core, ultra or sd3.")] = None,
    negative: Annotated[
        str | None, typer.Option("--negative", help="What the image must not show.")
    ] = None,
    roles: RolesOpt = None,
    level: LevelOpt = 0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Generate an image from PROMPT for a user: stored, charged to the daily quota."""
    images = runtime.context().images
    result = _run(
        images.generate(
            _requester(user, guild, roles, level),
            prompt,
            style=style,
            aspect_ratio=aspect,
            seed=seed,
            model=model,
            negative_prompt=negative,
        )
    )
    output.show(_copied(result, out))


@app.command()
def edit(
    image: Path,
    prompt: str,
    user: UserReq,
    guild: GuildOpt = None,
    strength: Annotated[
        float, typer.Option("--strength", help="0 keeps the image, 1 ignores it.")
    ] = 0.5,
    style: Annotated[str | None, typer.Option("--style", help="A style preset.")] = None,
    seed: SeedOpt = None,
    roles: RolesOpt = None,
    level: LevelOpt = 0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Transform IMAGE (PNG, JPEG or WEBP) by PROMPT for a user (Stability SD3)."""
    context = runtime.context()
    data = _read_image(image, context.settings.storage.max_image_bytes)
    result = _run(
        context.images.edit(
            _requester(user, guild, roles, level),
            data,
            prompt,
            strength=strength,
            style=style,
            seed=seed,
        )
    )
    output.show(_copied(result, out))


@app.command()
def upscale(
    image: str,
    user: UserReq,
    guild: GuildOpt = None,
    scale: Annotated[int, typer.Option("--scale", help="Fast upscale factor (4).")] = 4,
    mode: Annotated[
        str, typer.Option("--mode", help="fast, conservative or creative (creative polls).")
    ] = "fast",
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Required by conservative and creative.")
    ] = None,
    roles: RolesOpt = None,
    level: LevelOpt = 0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Upscale IMAGE (a file, or the id of a stored image) for a user."""
    context = runtime.context()
    data, file_id = _image_or_stored(context, image)
    result = _run(
        context.images.upscale(
            _requester(user, guild, roles, level),
            data,
            scale=scale,
            mode=mode,
            prompt=prompt,
            source_file_id=file_id,
        )
    )
    output.show(_copied(result, out))
