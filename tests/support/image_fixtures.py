"""Fixtures for the storage and image tests: the fake Stability server and a context wired to
it. Import the fixtures by name in a test module (pytest finds them in its namespace)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.config import Settings
from core.context import AppContext, use_context
from tests.support.stability_server import TEST_KEY, StabilityServer

FAST_IMAGES = {
    "api_key": TEST_KEY,
    "poll_interval_seconds": 0.02,
    "poll_deadline_seconds": 5.0,
    "retry_backoff_seconds": 0.01,
    "timeout_seconds": 5.0,
}


@pytest.fixture
def stability() -> Iterator[StabilityServer]:
    server = StabilityServer()
    server.start()
    yield server
    server.stop()


def image_settings_for(backend: Any, server: StabilityServer, **extra: Any) -> Settings:
    images = {**FAST_IMAGES, "base_url": server.url, **extra.pop("images", {})}
    return backend.settings(images=images, **extra)


@pytest.fixture
def image_context(backend: Any, stability: StabilityServer) -> Iterator[AppContext]:
    """An open context on the test's backend whose image client talks to the fake server."""
    settings = image_settings_for(backend, stability)
    ctx = AppContext(settings)
    with use_context(ctx):
        yield ctx
    if settings.database.uri is not None and "database" in ctx.__dict__:
        ctx.database.client.drop_database(settings.database.name)
    ctx.close()


def image_env(backend_env: dict[str, str], server: StabilityServer) -> dict[str, str]:
    """Environment for `abby` (in-process or a subprocess) to reach the store and the server."""
    return {
        **backend_env,
        "ABBY_IMAGES__BASE_URL": server.url,
        "ABBY_IMAGES__API_KEY": TEST_KEY,
        "ABBY_IMAGES__POLL_INTERVAL_SECONDS": "0.02",
        "ABBY_IMAGES__RETRY_BACKOFF_SECONDS": "0.01",
    }
