"""Image generation: the Stability AI client, its rate limiter, input checks, and the
generation service that ties quota, API call and storage together.

The seed's `get_image_generator()` is a shortcut onto the current context's client; the
client itself (and `make_client`, which builds it from settings) is `core.images.stability`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.images.limiter import RateLimiter

if TYPE_CHECKING:
    from core.images.stability import ImageGenerator

__all__ = ["RateLimiter", "get_image_generator"]


def get_image_generator() -> ImageGenerator:
    """The seed's ImageGenerator on the current context's Stability client."""
    from core.context import current
    from core.images.stability import ImageGenerator

    return ImageGenerator(current().images.client)
