"""The MongoDB backend: one pymongo client per process, errors translated at the boundary.

Domains create their indexes idempotently through `ensure()`, which records a schema version
per domain in the `schema_versions` collection, so a reshape of old documents is one numbered
step that runs once. Multi-document transactions are used only where the server supports them
(`supports_transactions`); every guarantee must hold without them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

import pymongo
import pymongo.command_cursor
import pymongo.cursor
from pymongo import MongoClient
from pymongo import errors as mongo_errors
from pymongo.collection import Collection
from pymongo.database import Database

from core.errors import ConfigError, DiskFull, ServiceUnavailable

log = logging.getLogger(__name__)

# A MongoDB error code for authentication failure.
_AUTH_FAILED = 18
# The server's disk is full (OutOfDiskSpace): a retry after an operator frees space succeeds.
_OUT_OF_DISK_SPACE = 14031


def redact_uri(uri: str) -> str:
    """Drop credentials from a MongoDB URI so it can be shown."""
    scheme, sep, rest = uri.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def translate(exc: mongo_errors.PyMongoError, where: str) -> Exception:
    """Map a pymongo error to Abby's vocabulary; unknown ones are returned unchanged."""
    if isinstance(exc, mongo_errors.ConfigurationError | mongo_errors.InvalidURI):
        return ConfigError(f"MongoDB at {where}: {exc}")
    if isinstance(exc, mongo_errors.OperationFailure) and exc.code == _AUTH_FAILED:
        return ConfigError(f"MongoDB at {where} refused the credentials")
    if isinstance(exc, mongo_errors.OperationFailure) and (
        exc.code == _OUT_OF_DISK_SPACE or "No space left on device" in str(exc)
    ):
        return DiskFull(f"MongoDB at {where} is out of disk space; retry when space is freed")
    if isinstance(
        exc,
        mongo_errors.ServerSelectionTimeoutError
        | mongo_errors.AutoReconnect
        | mongo_errors.NetworkTimeout
        | mongo_errors.ConnectionFailure,
    ):
        return ServiceUnavailable(f"MongoDB at {where} is unreachable; retry later")
    return exc


@contextmanager
def translated_errors(where: str) -> Iterator[None]:
    """Raise a pymongo error from the block as Abby's (translate); others pass unchanged."""
    try:
        yield
    except mongo_errors.PyMongoError as exc:
        translated = translate(exc, where)
        if translated is exc:
            raise
        raise translated from exc


class MongoDatabase:
    backend: Literal["mongo"] = "mongo"

    def __init__(
        self, uri: str, *, name: str = "abby", server_selection_timeout_ms: int = 4000
    ) -> None:
        self._where = redact_uri(uri)
        try:
            self.client: MongoClient = MongoClient(
                uri,
                serverSelectionTimeoutMS=server_selection_timeout_ms,
                connectTimeoutMS=server_selection_timeout_ms,
                tz_aware=True,
                uuidRepresentation="standard",
                appname="abby",
            )
        except mongo_errors.PyMongoError as exc:
            raise translate(exc, self._where) from exc
        self.db: Database = self.client[name]
        self._ensured: dict[str, int] = {}
        self._transactions: bool | None = None

    @property
    def location(self) -> str:
        return f"{self._where} (database {self.db.name})"

    def collection(self, name: str) -> Collection:
        """The raw pymongo collection (the seed's get_collection; indexes in `ensure` setups)."""
        return self.db[name]

    def table(self, name: str) -> Translated:
        """A collection whose every call (and every cursor it returns) raises Abby's errors."""
        return Translated(self.db[name], self._where)

    def errors(self) -> AbstractContextManager[None]:
        """Translate pymongo errors raised inside the block into Abby's vocabulary."""
        return translated_errors(self._where)

    def ping(self) -> None:
        with self.errors():
            self.client.admin.command("ping")
            probe = self.db["_doctor"]
            result = probe.insert_one({"ping": 1})
            probe.delete_one({"_id": result.inserted_id})

    @property
    def supports_transactions(self) -> bool:
        """True when the server is a replica set or sharded (multi-document transactions)."""
        if self._transactions is None:
            with self.errors():
                hello = self.client.admin.command("hello")
            self._transactions = bool(hello.get("setName") or hello.get("msg") == "isdbgrid")
        return self._transactions

    def ensure(self, domain: str, version: int, setup: Callable[[Database], None]) -> bool:
        """Run a domain's idempotent setup (indexes, reshapes) unless it is already at version.

        Returns True when the setup ran now.
        """
        if self._ensured.get(domain, 0) >= version:
            return False
        with self.errors():
            versions = self.db["schema_versions"]
            current = versions.find_one({"_id": domain}) or {}
            if current.get("version", 0) >= version:
                self._ensured[domain] = current["version"]
                return False
            setup(self.db)
            versions.update_one({"_id": domain}, {"$max": {"version": version}}, upsert=True)
        self._ensured[domain] = version
        log.info("MongoDB schema for %s at version %d", domain, version)
        return True

    def schema_versions(self) -> dict[str, int]:
        with self.errors():
            return {doc["_id"]: doc.get("version", 0) for doc in self.db["schema_versions"].find()}

    def schema(self) -> dict[str, int]:
        """Each domain's schema version, as `ensure` recorded it."""
        return dict(sorted(self.schema_versions().items()))

    def tables(self) -> dict[str, int]:
        with self.errors():
            names = sorted(
                n
                for n in self.db.list_collection_names()
                if n not in {"schema_versions", "_doctor"}
            )
            return {name: self.db[name].estimated_document_count() for name in names}

    def close(self) -> None:
        self.client.close()


def ascending(*fields: str) -> list[tuple[str, Any]]:
    """An index key of ascending fields, for `create_index`."""
    return [(field, pymongo.ASCENDING) for field in fields]


def scoped_id(scope: str, user_id: str) -> str:
    """The `_id` of a record keyed by (scope, user): `"<scope key>/<user id>"`.

    Neither part can hold a '/' (core.ids), so the key is unambiguous; the global scope's key
    is empty, so a global record's `_id` starts with '/'. One key, so an upsert by `_id` is
    atomic without a unique index on two fields.
    """
    return f"{scope}/{user_id}"


class _Translating:
    """Calls the wrapped pymongo object's methods with errors translated at the boundary."""

    _CURSORS = (pymongo.cursor.Cursor, pymongo.command_cursor.CommandCursor)

    def __init__(self, target: Any, where: str) -> None:  # noqa: ANN401 - any pymongo object
        self._target = target
        self._where = where

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        with translated_errors(self._where):
            result = method(*args, **kwargs)
        if result is self._target:  # a cursor's sort()/limit()/skip(): keep it wrapped
            return self
        if isinstance(result, self._CURSORS):
            return TranslatedCursor(result, self._where)
        return result

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the pymongo method's own result
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: self._call(attribute, *args, **kwargs)


class Translated(_Translating):
    """A pymongo Collection whose errors are Abby's (ServiceUnavailable, DiskFull, ...).

    Domain errors pymongo raises (DuplicateKeyError) pass through unchanged, as `errors()`
    lets them: a repository catches those itself.
    """

    @property
    def raw(self) -> Collection:
        """The pymongo collection itself, for bulk helpers that need the real type."""
        collection: Collection = self._target
        return collection


class TranslatedCursor(_Translating):
    """A cursor whose chained calls return itself translated and whose iteration translates."""

    def __iter__(self) -> Iterator[Any]:
        iterator = iter(self._target)
        while True:
            with translated_errors(self._where):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item
