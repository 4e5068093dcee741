"""Backend-neutral records: what a repository's `export()` yields and its `import_()` takes.

A record is a plain JSON-able dict. `"record"` names its type (one per table or collection),
`"v"` the record schema version, and the other keys are the fields. Timestamps are fixed-width
UTC ISO text at millisecond precision (`2026-12-01T09:05:25.123+00:00`): text order is time
order, and milliseconds are what MongoDB keeps, so SQLite -> MongoDB -> SQLite gives back the
same records. Stored times, in whatever form a store wrote them, are read through the codec
(`core.db.codec.unstamp`); SQLite gets the codec's `stamp` form back, MongoDB native dates.
Each domain describes its tables once (`Table`, in its `repository.py`); the two
backends read and write them through `core.db._sqlite_records` and `core.db._mongo_records`.

Import is idempotent: a record whose key is absent is inserted, one equal to the stored record
is left alone, and one that differs is counted as a conflict and never overwritten. Equality is
judged on records (both sides through `export`'s conversion), so a rerun of the same copy
finds everything "unchanged", never a conflict.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar, Literal

from core.db.codec import STAMP_WIDTH, stamp, unstamp
from core.errors import InvalidInput

SCHEMA_VERSION = 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

Record = dict[str, Any]
RecordStream = Generator[Record, None, None]  # what export() yields (closable)
Records = Iterable[Mapping[str, Any]]  # what import_() takes
# Neutral kinds. "time" is ISO text in a record; each backend says how it stores it.
Kind = Literal["text", "int", "float", "bool", "time", "json"]
# How a backend stores a "time": ISO text, a float of epoch seconds, or a native date.
TimeStorage = Literal["iso", "epoch", "date"]

# How many conflicting keys a report names; the count is always exact.
_NAMED_CONFLICTS = 20


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind = "text"
    sqlite: TimeStorage = "iso"
    mongo: TimeStorage = "date"


@dataclass(frozen=True)
class Table:
    """One table (SQLite) or collection (MongoDB), the same name on both.

    `key` is the neutral identity of a record. `mongo_id` builds the document's `_id` from a
    record (None: an ObjectId, found by the key fields); `id_field` is the one field that *is*
    the `_id` and is not stored twice. `sqlite_unique` says whether the key is a unique
    constraint in SQLite (the ledger's is not: its rows are numbered by `seq`).
    """

    name: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    mongo_id: Callable[[Record], Any] | None = None
    id_field: str | None = None
    sqlite_order: str = ""
    mongo_order: tuple[str, ...] = ()
    sqlite_unique: bool = True
    # NOT NULL SQLite columns the neutral record leaves out, filled at import.
    sqlite_fill: Mapping[str, Callable[[], Any]] = field(default_factory=dict)
    # (list field, column): SQLite stores that list as one row per item, in that column.
    sqlite_rows_of: tuple[str, str] | None = None
    # MongoDB fields the neutral record leaves out, derived from the document at import.
    mongo_fill: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @cached_property
    def integers(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.kind == "int")

    def key_text(self, record: Mapping[str, Any]) -> str:
        return f"{self.name}:" + "/".join(str(record.get(k)) for k in self.key)


@dataclass
class ImportReport:
    """What an import did: records inserted, found equal, found different (never overwritten)."""

    inserted: int = 0
    unchanged: int = 0
    conflicts: int = 0
    conflict_keys: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.inserted + self.unchanged + self.conflicts

    def conflict(self, key: str) -> None:
        self.conflicts += 1
        if len(self.conflict_keys) < _NAMED_CONFLICTS:
            self.conflict_keys.append(key)

    def merge(self, other: ImportReport) -> None:
        self.inserted += other.inserted
        self.unchanged += other.unchanged
        for key in other.conflict_keys:
            if len(self.conflict_keys) < _NAMED_CONFLICTS:
                self.conflict_keys.append(key)
        self.conflicts += other.conflicts

    def to_dict(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted,
            "unchanged": self.unchanged,
            "conflicts": self.conflicts,
            "conflict_keys": list(self.conflict_keys),
        }


class Portable(ABC):
    """A repository whose records can leave and enter it (`abby db copy`, backup, restore)."""

    # Every table or collection the repository owns, in import order.
    TABLES: ClassVar[tuple[Table, ...]] = ()

    @abstractmethod
    def export(self) -> RecordStream:
        """Yield every stored record, backend-neutral, table by table in key order."""

    @abstractmethod
    def import_(self, records: Records) -> ImportReport:
        """Insert the records that are absent, in batches; leave equal ones; count and name,
        never overwrite, ones that differ. Raises InvalidInput for a record it cannot read."""


# --- values --------------------------------------------------------------------------------
# Times are read by the codec (core.db.codec.unstamp: every form the stores ever wrote) and
# written here at the records' millisecond precision.


def time_text(value: datetime | float | str | None) -> str | None:
    """Fixed-width UTC ISO text, in milliseconds, of a datetime, epoch seconds or ISO text."""
    moment = unstamp(value)
    return None if moment is None else moment.isoformat(timespec="milliseconds")


def fast_time_text(value: Any) -> str | None:  # noqa: ANN401 - a stored column of any type
    """time_text, without parsing for the UTC texts the stores write (the bulk of a copy):
    the codec's stamp, or an ISO text at millisecond or second precision."""
    if value.__class__ is str and value.endswith("+00:00"):
        if len(value) == STAMP_WIDTH and value[19] == ".":
            return value[:23] + "+00:00"
        if len(value) == 29 and value[19] == ".":
            return value
        if len(value) == 25:
            return value[:19] + ".000+00:00"
    return time_text(value)


def stamp_text(text: object, where: str) -> str:
    """A record's (non-null) timestamp in the codec's stored SQLite form (`stamp`); the
    canonical millisecond text, the bulk of an import, is only checked and padded."""
    if isinstance(text, str) and len(text) == 29 and text[19] == "." and text[23:] == "+00:00":
        try:
            datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInput(f"{where}: {text!r} is not an ISO timestamp") from exc
        return f"{text[:23]}000+00:00"
    moment = parse_time(text, where)
    assert moment is not None, where  # the writers convert only values that are not None
    return stamp(moment)


def parse_time(text: object, where: str) -> datetime | None:
    """The aware UTC moment of a record's timestamp text; InvalidInput for anything else."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInput(f"{where}: {text!r} is not an ISO timestamp")
    try:
        return unstamp(text)
    except ValueError as exc:
        raise InvalidInput(f"{where}: {text!r} is not an ISO timestamp") from exc


def neutral(kind: Kind, value: Any) -> Any:  # noqa: ANN401 - a stored value of any kind
    """A stored value (either backend) as the record's plain value."""
    if value is None:
        return None
    if kind == "time":
        return time_text(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return bool(value)
    if kind == "json":
        return json.loads(value) if isinstance(value, str) else _plain(value)
    return value


def _plain(value: Any) -> Any:  # noqa: ANN401 - any BSON or JSON value
    # BSON subdocuments and Int64 become plain dicts, lists and ints.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | str | float) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    return value


def check(table: Table, record: Mapping[str, Any]) -> None:
    """Refuse a record this version cannot read (newer schema, missing key field)."""
    version = record.get("v")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise InvalidInput(
            f"{table.name} record has schema version {version!r}; this Abby reads "
            f"version {SCHEMA_VERSION} and older: upgrade Abby first"
        )
    for name in table.key:
        if record.get(name) is None:
            raise InvalidInput(f"{table.name} record lacks its key field {name!r}")
    for name in table.integers:
        value = record.get(name)
        # Both stores hold 64-bit integers; a larger one would fail deep in a driver.
        if value.__class__ is int and not INT64_MIN <= value <= INT64_MAX:
            raise InvalidInput(f"{table.key_text(record)}: {name} {value} is out of range")


def route(
    tables: Iterable[Table], records: Iterable[Mapping[str, Any]]
) -> Iterator[tuple[Table, Mapping[str, Any]]]:
    """Pair each record with its table; an unknown record type is invalid input."""
    by_name = {t.name: t for t in tables}
    for record in records:
        if not isinstance(record, Mapping):
            raise InvalidInput(f"a record must be an object, not {type(record).__name__}")
        table = by_name.get(record.get("record"))  # type: ignore[arg-type]
        if table is None:
            raise InvalidInput(
                f"unknown record type {record.get('record')!r} for this domain "
                f"(expected one of {', '.join(sorted(by_name))})"
            )
        check(table, record)
        yield table, record
