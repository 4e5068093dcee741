"""One record codec per backend: rows and documents to domain records and back.

A repository's record is a dataclass whose field names are its column (or document field)
names, with two conventions that every domain shares:
- times are aware UTC datetimes in the record. SQLite stores them as fixed-width UTC text
  (`stamp`: `2026-12-01T14:29:55.000000+00:00`, so text order is time order and an index on
  it serves a range); MongoDB stores native BSON dates, read back tz-aware (the client is
  opened with `tz_aware=True`).
- `guild_id` in the record is the `scope` key in storage (`""` for the global scope).

`SQLITE.decode(Profile, row)` builds a record from a `sqlite3.Row`; `MONGO.decode(...)` from
a document; `encode(record)` gives the stored columns. A field the row lacks keeps its
default; `overrides` set fields the storage shapes differently.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from core.ids import GLOBAL_SCOPE

R = TypeVar("R")

STAMP_WIDTH = len("2026-12-01T14:29:55.000000+00:00")


def stamp(moment: datetime) -> str:
    """Fixed-width UTC text of an aware datetime (a naive one is refused: its zone is a guess)."""
    if moment.tzinfo is None:
        raise ValueError(f"a naive datetime cannot be stored: {moment!r} (use an aware one)")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def unstamp(value: object) -> datetime | None:
    """The aware UTC datetime of stored text; also reads the older forms a migration rewrites.

    Older rows hold `isoformat()` text of any width or offset, naive text (written as UTC),
    or seconds since the epoch as a number.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def restamp(table: str, *columns: str, key: str = "rowid") -> Callable[[sqlite3.Connection], None]:
    """A migration step that rewrites `columns` of every row of `table` in `stamp` form.

    Rows already in that form are left alone, so the step is cheap on a database whose rows
    are mostly new; NULLs stay NULL.
    """

    def apply(conn: sqlite3.Connection) -> None:
        for column in columns:
            rows = conn.execute(
                f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL"
                f" AND (typeof({column}) != 'text' OR length({column}) != {STAMP_WIDTH}"
                f" OR substr({column}, -6) != '+00:00')"
            ).fetchall()
            conn.executemany(
                f"UPDATE {table} SET {column} = ? WHERE {key} = ?",
                [(stamp(unstamp(value)), rowid) for rowid, value in rows],  # type: ignore[arg-type]
            )

    return apply


@cache
def _fields_of(cls: Any) -> tuple[tuple[str, bool], ...]:  # noqa: ANN401 - a dataclass
    """(name, is a time) of each field of a record class, resolved once per class."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _is_time(hints[f.name])) for f in dataclasses.fields(cls))


def _is_time(hint: object) -> bool:
    if hint is datetime:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return datetime in typing.get_args(hint)
    return False


class RecordCodec:
    """Decodes and encodes records for one backend, given how it stores times."""

    def __init__(
        self,
        *,
        read_time: Callable[[object], datetime | None],
        write_time: Callable[[datetime], Any],
    ) -> None:
        self._read_time = read_time
        self._write_time = write_time

    @staticmethod
    def _fields(cls: type) -> tuple[tuple[str, bool], ...]:
        return _fields_of(cls)

    def decode(
        self,
        cls: type[R],
        stored: Mapping[str, Any] | sqlite3.Row,
        **overrides: Any,  # noqa: ANN401 - any field's value
    ) -> R:
        """The record `cls` of a row or document (see the module's conventions)."""
        keys = stored.keys()
        values: dict[str, Any] = {}
        for name, is_time in self._fields(cls):
            if name in overrides:
                continue
            if name == "guild_id" and "guild_id" not in keys and "scope" in keys:
                scope = stored["scope"]
                values[name] = None if scope == GLOBAL_SCOPE else scope
            elif name in keys:
                value = stored[name]
                values[name] = self._read_time(value) if is_time else value
        return cls(**values, **overrides)

    def encode(self, record: object, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
        """The stored fields of a record: times written, `guild_id` as `scope`."""
        skip = set(exclude)
        stored: dict[str, Any] = {}
        for name, is_time in self._fields(type(record)):
            if name in skip:
                continue
            value = getattr(record, name)
            if name == "guild_id":
                stored["scope"] = GLOBAL_SCOPE if value is None else value
            elif is_time and value is not None:
                stored[name] = self._write_time(value)
            else:
                stored[name] = value
        return stored

    def time(self, moment: datetime) -> Any:  # noqa: ANN401 - text on SQLite, a date on MongoDB
        """A time as this backend stores it, for a query parameter."""
        return self._write_time(moment)


def _aware(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return unstamp(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _native(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"a naive datetime cannot be stored: {moment!r} (use an aware one)")
    return moment.astimezone(UTC)


SQLITE = RecordCodec(read_time=unstamp, write_time=stamp)
MONGO = RecordCodec(read_time=_aware, write_time=_native)
