"""The document database: the SQLite and MongoDB backends, their migrations, the record codec
and the backend-neutral records every repository exports and imports.

This package depends on nothing above it (no service, no `core.context`). The seed's Database
API shortcuts (`upsert_user`, `get_collection`, ...) live in `core.database`.
"""

from __future__ import annotations

from typing import Literal, Protocol


class Database(Protocol):
    """What both backends' handles offer every caller that is not a repository (status,
    doctor, copy); a repository takes its own backend's class."""

    @property
    def backend(self) -> Literal["sqlite", "mongo"]: ...

    @property
    def location(self) -> str: ...

    def ping(self) -> None: ...

    def schema(self) -> dict[str, int]:
        """Each domain's schema version (its latest migration number on SQLite)."""
        ...

    def tables(self) -> dict[str, int]: ...

    def close(self) -> None: ...
