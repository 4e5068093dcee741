"""Input checks for image generation, run before any request is sent (and before a quota
unit is reserved): prompt, style preset, aspect ratio, seed, strength, image type and size.

The image type is read from the file's magic bytes, never from its name or a header a client
sent: PNG, JPEG and WEBP are what Stability accepts.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InvalidInput, UnknownFile
from core.input_files import read_input_file

MAX_PROMPT_CHARS = 10_000
MAX_SEED = 4_294_967_294
# Stability's documented style presets (v2beta stable-image).
STYLE_PRESETS: tuple[str, ...] = (
    "3d-model",
    "analog-film",
    "anime",
    "cinematic",
    "comic-book",
    "digital-art",
    "enhance",
    "fantasy-art",
    "isometric",
    "line-art",
    "low-poly",
    "modeling-compound",
    "neon-punk",
    "origami",
    "photographic",
    "pixel-art",
    "tile-texture",
)
ASPECT_RATIOS: tuple[str, ...] = (
    "16:9",
    "1:1",
    "21:9",
    "2:3",
    "3:2",
    "4:5",
    "5:4",
    "9:16",
    "9:21",
)
IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG or WEBP bytes, from their magic numbers; None otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_prompt(prompt: object, what: str = "prompt") -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput(f"the {what} is empty: describe the image you want")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"the {what} is {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}"
        )
    if "\x00" in prompt:
        raise InvalidInput(f"the {what} contains a NUL character")
    return prompt.strip()


def check_style(style: object | None) -> str | None:
    if style is None or style == "":
        return None
    if style not in STYLE_PRESETS:
        raise InvalidInput(
            f"unknown style {str(style)[:40]!r}; choose one of: {', '.join(STYLE_PRESETS)}"
        )
    return str(style)


def check_aspect(aspect: object | None) -> str | None:
    if aspect is None or aspect == "":
        return None
    if aspect not in ASPECT_RATIOS:
        raise InvalidInput(
            f"unknown aspect ratio {str(aspect)[:20]!r}; choose one of: {', '.join(ASPECT_RATIOS)}"
        )
    return str(aspect)


def check_seed(seed: object | None) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidInput(f"seed must be an integer from 0 to {MAX_SEED}")
    return seed


def check_strength(strength: object) -> float:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise InvalidInput("strength must be a number from 0 to 1")
    value = float(strength)
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"strength {value:g} is out of range: use a number from 0 to 1")
    return value


def read_image_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of the image file at `path`: a regular file of at most `max_bytes`.

    A FIFO, a device or a directory is refused before anything is read (a FIFO used to hang
    `abby image upscale` for ever). A missing file is UnknownFile (exit 3), as for every
    input file of every command.
    """
    try:
        return read_input_file(path, max_bytes=max_bytes, what="image")
    except FileNotFoundError:
        raise UnknownFile(f"{path}: no such file") from None


def check_image(data: object, max_bytes: int, what: str = "image") -> str:
    """Return the image's MIME type, or raise InvalidInput (not bytes, too big, not an image)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInput(f"the {what} must be bytes")
    size = len(data)
    if size == 0:
        raise InvalidInput(f"the {what} is empty")
    if size > max_bytes:
        raise InvalidInput(
            f"the {what} is {size / 1048576:.1f} MiB; the limit is {max_bytes / 1048576:.1f} MiB"
        )
    kind = sniff_image_type(bytes(data[:16]))
    if kind is None:
        raise InvalidInput(f"the {what} is not a PNG, JPEG or WEBP image")
    return kind
