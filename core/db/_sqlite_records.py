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
from typing import Any

from core.db.records import (
    SCHEMA_VERSION,
    Field,
    ImportReport,
    Record,
    Table,
    neutral,
    parse_time,
    route,
    time_text,
)
from core.db.sqlite import SqliteDatabase
from core.errors import InvalidInput

_FETCH = 2_000
BATCH = 5_000


def export_tables(db: SqliteDatabase, tables: Sequence[Table]) -> Iterator[Record]:
    """Yield every row of the tables as records, in key order, from one snapshot."""
    conn = db.connection()
    own = not conn.in_transaction
    with db.errors():
        if own:
            conn.execute("BEGIN")
        try:
            for table in tables:
                cols = table.columns
                order = table.sqlite_order or ", ".join(table.key)
                sql = f"SELECT {', '.join(cols)} FROM {table.name} ORDER BY {order}"
                cursor = conn.execute(sql)
                readers = [(f.name, f.kind) for f in table.fields]
                while rows := cursor.fetchmany(_FETCH):
                    for row in rows:
                        record: Record = {"record": table.name, "v": SCHEMA_VERSION}
                        for (name, kind), value in zip(readers, row, strict=True):
                            record[name] = neutral(kind, value)
                        yield record
        finally:
            if own and conn.in_transaction:
                conn.execute("ROLLBACK")


def _converter(table: Table, f: Field) -> Callable[[Any], Any]:
    where = f"{table.name}.{f.name}"
    if f.kind == "time" and f.sqlite == "epoch":
        return lambda v: None if v is None else parse_time(v, where).timestamp()  # type: ignore[union-attr]
    if f.kind == "time":
        return lambda v: time_text(parse_time(v, where))
    if f.kind == "json":
        return lambda v: None if v is None else json.dumps(v, sort_keys=True, ensure_ascii=False)
    if f.kind == "bool":
        return lambda v: None if v is None else int(bool(v))
    return _number if f.kind in ("int", "float") else _text


def _writer(table: Table) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function from a record to the row tuple SQLite stores (fill columns appended)."""
    converters = [(f.name, _converter(table, f)) for f in table.fields]
    fills = list(table.sqlite_fill.values())

    def write(record: Mapping[str, Any]) -> tuple[Any, ...]:
        row = [conv(record.get(name)) for name, conv in converters]
        return (*row, *(fill() for fill in fills))

    return write


def _number(value: Any) -> Any:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise InvalidInput(f"{value!r} is not a number")


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput(f"{value!r} is not text")


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
        if table.name not in self._rowids:
            cursor = conn.execute(f"SELECT {', '.join(table.key)}, rowid FROM {table.name}")
            self._rowids[table.name] = {tuple(row[:-1]): row[-1] for row in cursor}
        return self._rowids[table.name]

    def flush(self, batch: list[tuple[Table, Mapping[str, Any]]]) -> None:
        if not batch:
            return
        report = self._report
        with self._db.transaction() as conn:
            for table, record in batch:
                write = self._writers.get(table.name)
                if write is None:
                    write = self._writers[table.name] = _writer(table)
                try:
                    row = write(record)
                except InvalidInput as exc:
                    raise InvalidInput(f"{table.key_text(record)}: {exc}") from exc
                insert, select = self._statements(table)
                key = tuple(record.get(k) for k in table.key)
                if table.sqlite_unique:
                    if _insert(conn, insert, row, table, record) == 1:
                        report.inserted += 1
                        continue
                    existing = conn.execute(select, key).fetchone()
                else:
                    known = self._keyed_rows(conn, table)
                    rowid = known.get(key)
                    if rowid is None:
                        known[key] = _insert(conn, insert, row, table, record, rowid=True)
                        report.inserted += 1
                        continue
                    existing = conn.execute(
                        f"SELECT {', '.join(table.columns)} FROM {table.name} WHERE rowid = ?",
                        (rowid,),
                    ).fetchone()
                incoming = _stored(table, row)
                # None: another unique field (a path, a source) is held by a different record.
                if existing is not None and _stored(table, existing) == incoming:
                    report.unchanged += 1
                else:
                    report.conflict(table.key_text(record))


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
    return cursor.lastrowid if rowid else cursor.rowcount


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
