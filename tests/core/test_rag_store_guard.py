"""The embedded store leans on a private cache of chromadb's: a release without it stops with
one clear line naming the supported range, not an AttributeError deep in a query."""

from __future__ import annotations

import pytest
from chromadb.api.shared_system_client import SharedSystemClient

from core.errors import ConfigError
from core.rag import store


def test_the_supported_chromadb_cache_is_found() -> None:
    assert store._shared_system_client() is SharedSystemClient


def test_a_chromadb_without_the_cache_is_one_clear_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(SharedSystemClient, "_identifier_to_system")
    with pytest.raises(ConfigError) as raised:
        store._shared_system_client()
    message = str(raised.value)
    assert "is not supported" in message and f"chromadb{store.SUPPORTED_CHROMADB}" in message
    assert "\n" not in message
