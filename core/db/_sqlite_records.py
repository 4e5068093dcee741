"""Neutral records in and out of SQLite tables (see core.db.records).

Export reads every table of a domain inside one read transaction, so a domain's tables (the
bank's accounts, transfers and ledger) come from one snapshot while the bot keeps writing.
Import writes in batches, one `BEGIN IMMEDIATE` transaction each: a crash loses at most the
batch in flight, and the rerun finds the committed ones equal.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from itertools import groupby
from typing import Any

from core.db.records import (
    SCHEMA_VERSION,
    Field,
    ImportReport,
    Portable,
    Record,
    Records,
    RecordStream,
    Table,
    fast_time_text,
    neutral,
    parse_time,
    route,
    stamp_text,
)
from core.db.sqlite import SqliteDatabase
from core.errors import InvalidInput

_FETCH = 2_000
BATCH = 5_000


def _readers(table: Table) -> list[tuple[str, Callable[[Any], Any]]]:
    """(field, conversion) for the fields whose stored value is not already the record's."""
    readers: list[tuple[str, Callable[[Any], Any]]] = []
    for f in table.fields:
        if f.kind == "time":
            readers.append((f.name, fast_time_text))
        elif f.kind in ("json", "bool"):
            readers.append((f.name, partial(neutral, f.kind)))
    return readers


def export_tables(db: SqliteDatabase, tables: Sequence[Table]) -> RecordStream:
    """Yield every row of the tables as records, in key order, from one snapshot."""
    conn = db.connection()
    own = not conn.in_transaction
    with db.errors():
        if own:
            conn.execute("BEGIN")
        try:
            for table in tables:
                if table.sqlite_rows_of is not None:
                    yield from _export_grouped(conn, table)
                    continue
                order = table.sqlite_order or ", ".join(table.key)
                cursor = conn.cursor()
                cursor.row_factory = None  # plain tuples: a copy reads millions of rows
                cursor.execute(
                    f"SELECT {', '.join(table.columns)} FROM {table.name} ORDER BY {order}"
                )
                head = {"record": table.name, "v": SCHEMA_VERSION}
                names = table.columns
                readers = _readers(table)
                while rows := cursor.fetchmany(_FETCH):
                    for row in rows:
                        record = {**head, **dict(zip(names, row, strict=True))}
                        for name, read in readers:
                            value = record[name]
                            if value is not None:
                                record[name] = read(value)
                        yield record
        finally:
            # Also when the stream is dropped unfinished (a failed import on the other side).
            if own and conn.in_transaction:
                conn.execute("ROLLBACK")


def count_records(db: SqliteDatabase, tables: Sequence[Table]) -> int:
    """How many records export() would yield (0 for a table not created yet)."""
    existing = db.tables()
    total = 0
    with db.errors():
        for table in tables:
            if table.sqlite_rows_of is not None and existing.get(table.name):
                keys = ", ".join(table.key)
                sql = f"SELECT COUNT(*) FROM (SELECT DISTINCT {keys} FROM {table.name})"
                total += db.connection().execute(sql).fetchone()[0]
            else:
                total += existing.get(table.name, 0)
    return total


def _grouped_columns(table: Table) -> tuple[list[str], str, str]:
    assert table.sqlite_rows_of is not None
    field_name, column = table.sqlite_rows_of
    return [n for n in table.columns if n != field_name], field_name, column


def _export_grouped(conn: sqlite3.Connection, table: Table) -> Iterator[Record]:
    """One record per key from a table that keeps one row per item of a list field."""
    others, field_name, column = _grouped_columns(table)
    cursor = conn.cursor()
    cursor.row_factory = None
    order = ", ".join([*table.key, column])
    cursor.execute(f"SELECT {', '.join(others)}, {column} FROM {table.name} ORDER BY {order}")
    head = {"record": table.name, "v": SCHEMA_VERSION}
    current: Record | None = None
    for row in cursor:
        values = dict(zip(others, row[:-1], strict=True))
        if current is None or any(current[k] != values[k] for k in table.key):
            if current is not None:
                yield current
            current = {**head, **values, field_name: []}
        current[field_name].append(row[-1])
    if current is not None:
        yield current


def _converter(table: Table, f: Field) -> Callable[[Any], Any] | None:
    """How a record's value becomes the stored one; None where it is stored as it is."""
    where = f"{table.name}.{f.name}"
    if f.kind == "time" and f.sqlite == "epoch":
        return lambda v: _moment(v, where).timestamp()
    if f.kind == "time":
        return lambda v: stamp_text(v, where)
    if f.kind == "json":
        return lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False)
    if f.kind == "bool":
        return lambda v: int(bool(v))
    return None


def _moment(value: object, where: str) -> datetime:
    """A record's (non-null) timestamp as an aware UTC datetime; InvalidInput otherwise."""
    moment = parse_time(value, where)
    assert moment is not None  # the writer converts only values that are not None
    return moment


_PLAIN_TYPES: dict[str, tuple[type, ...]] = {"text": (str,), "int": (int,), "float": (int, float)}


def _writer(table: Table) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function from a record to the row tuple SQLite stores (fill columns appended).

    Raises InvalidInput for a value of the wrong type (SQLite would store it anyway)."""
    names = table.columns
    converted = [(i, conv) for i, f in enumerate(table.fields) if (conv := _converter(table, f))]
    checked = [(i, f.name, _PLAIN_TYPES[f.kind], "text" if f.kind == "text" else "a number")
               for i, f in enumerate(table.fields) if f.kind in _PLAIN_TYPES]  # fmt: skip
    fills = list(table.sqlite_fill.values())

    def write(record: Mapping[str, Any]) -> tuple[Any, ...]:
        row = [record.get(name) for name in names]
        for i, name, types, expected in checked:
            value = row[i]
            # The exact class: a bool is no number here, and SQLite would store either.
            if value is not None and value.__class__ not in types:
                raise InvalidInput(f"{name}: {value!r} is not {expected}")
        for i, conv in converted:
            if row[i] is not None:
                row[i] = conv(row[i])
        if fills:
            row.extend(fill() for fill in fills)
        return tuple(row)

    return write


def _stored(table: Table, row: Sequence[Any]) -> Record:
    record: Record = {"record": table.name, "v": SCHEMA_VERSION}
    for f, value in zip(table.fields, row, strict=False):
        record[f.name] = neutral(f.kind, value)
    return record


class _Importer:
    def __init__(self, db: SqliteDatabase, report: ImportReport) -> None:
        self._db = db
        self._report = report
        self._writers: dict[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]] = {}
        self._sql: dict[str, tuple[str, str]] = {}
        # Tables whose neutral key is no SQLite constraint: key -> rowid, loaded once.
        self._rowids: dict[str, dict[tuple[Any, ...], int]] = {}
        self._top: dict[str, int] = {}  # the largest rowid when the map was last right

    def _statements(self, table: Table) -> tuple[str, str]:
        if table.name not in self._sql:
            cols = [*table.columns, *table.sqlite_fill]
            marks = ", ".join("?" * len(cols))
            insert = (
                f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks})"
                " ON CONFLICT DO NOTHING"
            )
            where = " AND ".join(f"{k} = ?" for k in table.key)
            select = f"SELECT {', '.join(table.columns)} FROM {table.name} WHERE {where}"
            self._sql[table.name] = (insert, select)
        return self._sql[table.name]

    def _keyed_rows(self, conn: sqlite3.Connection, table: Table) -> dict[tuple[Any, ...], int]:
        """key -> rowid of every row, reloaded whenever another writer added rows since: the
        key is no constraint here, so only this map stops a second insert of a record."""
        top = conn.execute(f"SELECT max(rowid) FROM {table.name}").fetchone()[0] or 0
        cached = self._rowids.get(table.name)
        if cached is None or self._top.get(table.name) != top:
            cursor = conn.execute(f"SELECT {', '.join(table.key)}, rowid FROM {table.name}")
            cached = self._rowids[table.name] = {tuple(row[:-1]): row[-1] for row in cursor}
        self._top[table.name] = top
        return cached

    def _rows(self, table: Table, records: list[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        write = self._writers.get(table.name)
        if write is None:
            write = self._writers[table.name] = _writer(table)
        rows = []
        for record in records:
            try:
                rows.append(write(record))
            except InvalidInput as exc:
                raise InvalidInput(f"{table.key_text(record)}: {exc}") from exc
        return rows

    def flush(self, batch: list[tuple[Table, Mapping[str, Any]]]) -> None:
        with self._db.transaction() as conn:
            for table, pairs in groupby(batch, key=lambda pair: pair[0]):
                records = [record for _, record in pairs]
                if table.sqlite_rows_of is not None:
                    self._grouped(conn, table, records)
                    continue
                rows = self._rows(table, records)
                if table.sqlite_unique:
                    self._unique(conn, table, records, rows)
                else:
                    self._numbered(conn, table, records, rows)

    def _unique(
        self,
        conn: sqlite3.Connection,
        table: Table,
        records: list[Mapping[str, Any]],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """One executemany; only when some rows were not inserted, find out which."""
        insert, select = self._statements(table)
        try:
            inserted = conn.executemany(insert, rows).rowcount
        except (sqlite3.IntegrityError, sqlite3.InterfaceError):
            # Name the bad record: the rows before it are already in (DO NOTHING for them).
            pairs = zip(rows, records, strict=True)
            inserted = sum(_insert(conn, insert, row, table, record) for row, record in pairs)
        self._report.inserted += inserted
        if inserted == len(rows):
            return
        conflicts = 0
        for record, row in zip(records, rows, strict=True):
            existing = conn.execute(select, tuple(record.get(k) for k in table.key)).fetchone()
            # None: another unique field (a path, a source) is held by a different record.
            if existing is None or _stored(table, existing) != _stored(table, row):
                conflicts += 1
                self._report.conflict(table.key_text(record))
        self._report.unchanged += len(rows) - inserted - conflicts

    def _grouped(
        self, conn: sqlite3.Connection, table: Table, records: list[Mapping[str, Any]]
    ) -> None:
        """A list field kept as rows: insert a key's rows when it has none; equal when the
        stored set is the same; otherwise a conflict."""
        others, field_name, column = _grouped_columns(table)
        cols = [*others, column]
        marks = ", ".join("?" * len(cols))
        insert = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks})"
        where = " AND ".join(f"{k} = ?" for k in table.key)
        select = f"SELECT {column} FROM {table.name} WHERE {where}"
        for record in records:
            items = record.get(field_name)
            values = [record.get(n) for n in others]
            if not isinstance(items, list) or any(
                v.__class__ is not str for v in [*items, *values] if v is not None
            ):
                raise InvalidInput(f"{table.key_text(record)} is not a valid record")
            key = tuple(record.get(k) for k in table.key)
            stored = {row[0] for row in conn.execute(select, key)}
            if not stored:
                conn.executemany(insert, [(*values, item) for item in set(items)])
                self._report.inserted += 1
            elif stored == set(items):
                self._report.unchanged += 1
            else:
                self._report.conflict(table.key_text(record))

    def _numbered(
        self,
        conn: sqlite3.Connection,
        table: Table,
        records: list[Mapping[str, Any]],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """A table whose identity is no SQLite constraint (the ledger): look keys up."""
        insert, _ = self._statements(table)
        known = self._keyed_rows(conn, table)
        by_rowid = f"SELECT {', '.join(table.columns)} FROM {table.name} WHERE rowid = ?"
        for record, row in zip(records, rows, strict=True):
            key = tuple(record.get(k) for k in table.key)
            rowid = known.get(key)
            if rowid is None:
                known[key] = self._top[table.name] = _insert(
                    conn, insert, row, table, record, rowid=True
                )
                self._report.inserted += 1
                continue
            existing = conn.execute(by_rowid, (rowid,)).fetchone()
            if _stored(table, existing) == _stored(table, row):
                self._report.unchanged += 1
            else:
                self._report.conflict(table.key_text(record))


def _insert(
    conn: sqlite3.Connection,
    sql: str,
    row: tuple[Any, ...],
    table: Table,
    record: Mapping[str, Any],
    *,
    rowid: bool = False,
) -> int:
    try:
        cursor = conn.execute(sql, row)
    except (sqlite3.IntegrityError, sqlite3.InterfaceError) as exc:
        # A CHECK (a negative balance) or a value SQLite cannot bind: the record is bad.
        raise InvalidInput(f"{table.key_text(record)} is not a valid record: {exc}") from exc
    if not rowid:
        return cursor.rowcount
    assert cursor.lastrowid is not None  # an INSERT that ran
    return cursor.lastrowid


def import_tables(
    db: SqliteDatabase, tables: Sequence[Table], records: Iterable[Mapping[str, Any]]
) -> ImportReport:
    """Insert the records that are absent; count equal ones and conflicts (see records.py)."""
    report = ImportReport()
    importer = _Importer(db, report)
    batch: list[tuple[Table, Mapping[str, Any]]] = []
    for pair in route(tables, records):
        batch.append(pair)
        if len(batch) >= BATCH:
            importer.flush(batch)
            batch = []
    importer.flush(batch)
    return report


class SqlitePortable(Portable):
    """The export and import every SQLite repository shares: its TABLES, through this module.

    A repository lists it after its domain interface (`class X(XRepository, SqlitePortable)`):
    the interface's TABLES, these methods for the ones `Portable` asks for.
    """

    _db: SqliteDatabase

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)
