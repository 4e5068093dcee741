"""Image generation: the Stability AI client, its rate limiter, input checks, and the
generation service that ties quota, API call and storage together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.images.limiter import RateLimiter

if TYPE_CHECKING:
    from core.config import Settings
    from core.images.stability import ImageGenerator, StabilityClient

__all__ = ["RateLimiter", "get_image_generator", "make_client"]


def make_client(settings: Settings, **options: object) -> StabilityClient:
    """A Stability client from settings; the limiter's state is shared through the data dir."""
    from core.images.stability import StabilityClient

    images = settings.images
    limiter = RateLimiter(
        requests=images.rate_limit_requests,
        window_seconds=images.rate_limit_window_seconds,
        lockout_seconds=images.lockout_seconds,
        state_file=settings.data_dir / "images" / "rate_limit.json",
    )
    return StabilityClient(
        images, limiter=limiter, max_image_bytes=settings.storage.max_image_bytes, **options
    )


def get_image_generator() -> ImageGenerator:
    """The seed's ImageGenerator on the current context's Stability client."""
    from core.context import current
    from core.images.stability import ImageGenerator

    return ImageGenerator(current().images.client)
