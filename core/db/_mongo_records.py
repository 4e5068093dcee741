"""Neutral records in and out of MongoDB collections (see core.db.records).

Import is one unordered `bulk_write` of `$setOnInsert` upserts per batch: an absent record is
inserted whole, an existing one is not touched, and only the records that were not inserted are
read back to tell "equal" from "conflict". Every step is idempotent, so a copy killed mid-batch
is finished by the rerun without a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bson.int64 import Int64
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from core.db.mongo import MongoDatabase, Translated
from core.db.records import (
    SCHEMA_VERSION,
    ImportReport,
    Portable,
    Record,
    Records,
    RecordStream,
    Table,
    neutral,
    parse_time,
    route,
)
from core.errors import InvalidInput

BATCH = 500
# Ids or keys per lookup query: mongoeco (the tests' stand-in) refuses an $in of ~1,000.
_LOOKUP = 200
_DUPLICATE_KEY = 11000


def _sort(table: Table) -> list[tuple[str, int]]:
    if table.mongo_order:
        return [(name, 1) for name in table.mongo_order]
    if table.mongo_id is not None or table.id_field is not None:
        return [("_id", 1)]
    return [(name, 1) for name in table.key]


def _from_doc(table: Table, doc: Mapping[str, Any]) -> Record:
    record: Record = {"record": table.name, "v": SCHEMA_VERSION}
    for f in table.fields:
        value = doc.get("_id") if f.name == table.id_field else doc.get(f.name)
        record[f.name] = neutral(f.kind, value)
    return record


def export_tables(db: MongoDatabase, tables: Sequence[Table]) -> RecordStream:
    """Yield every document of the collections as records, in key order."""
    for table in tables:
        for doc in db.table(table.name).find({}).sort(_sort(table)).batch_size(2_000):
            yield _from_doc(table, doc)


def _native(f_kind: str, storage: str, value: Any, where: str) -> Any:  # noqa: ANN401 - a field of any kind
    if value is None:
        return None
    if f_kind == "time":
        moment = parse_time(value, where)
        assert moment is not None
        return moment.timestamp() if storage == "epoch" else moment
    if f_kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput(f"{where}: {value!r} is not an integer")
        return Int64(value)
    if f_kind == "float":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidInput(f"{where}: {value!r} is not a number")
        return float(value)
    if f_kind == "bool":
        return bool(value)
    if f_kind == "text" and not isinstance(value, str):
        raise InvalidInput(f"{where}: {value!r} is not text")
    return value


def _document(table: Table, record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(filter, fields to insert) for one record."""
    doc: dict[str, Any] = {}
    for f in table.fields:
        where = f"{table.key_text(record)}.{f.name}"
        doc[f.name] = _native(f.kind, f.mongo, record.get(f.name), where)
    extra = table.mongo_fill(doc) if table.mongo_fill is not None else {}
    if table.id_field is not None:
        ident = doc.pop(table.id_field)
        return {"_id": ident}, {**doc, **extra}
    if table.mongo_id is not None:
        return {"_id": table.mongo_id(dict(record))}, {**doc, **extra}
    selector = {name: doc.pop(name) for name in table.key}
    return selector, {**doc, **extra}


def _canonical(table: Table, selector: Mapping[str, Any], rest: Mapping[str, Any]) -> Record:
    return _from_doc(table, {**rest, **selector})


class _Importer:
    def __init__(self, db: MongoDatabase, report: ImportReport) -> None:
        self._db = db
        self._report = report

    def flush(self, table: Table, batch: list[Mapping[str, Any]]) -> None:
        if not batch:
            return
        pairs = [_document(table, record) for record in batch]
        ops = [UpdateOne(sel, {"$setOnInsert": rest}, upsert=True) for sel, rest in pairs]
        collection = self._db.table(table.name)
        try:
            result = collection.bulk_write(ops, ordered=False)
            inserted = set(result.upserted_ids or {})
        except BulkWriteError as exc:
            details = exc.details or {}
            if any(e.get("code") != _DUPLICATE_KEY for e in details.get("writeErrors", [])):
                raise
            # A duplicate key: a race with another writer, or another unique field (a
            # path, a source) held by a different record; both are decided below.
            inserted = {u["index"] for u in details.get("upserted", [])}
        self._report.inserted += len(inserted)
        others = [i for i in range(len(pairs)) if i not in inserted]
        if others:
            self._compare(table, collection, [(batch[i], *pairs[i]) for i in others])

    def _compare(self, table: Table, collection: Translated, rows: list[tuple[Any, ...]]) -> None:
        found: dict[Any, Mapping[str, Any]] = {}
        by_id = "_id" in rows[0][1]
        for start in range(0, len(rows), _LOOKUP):
            selectors = [sel for _, sel, _ in rows[start : start + _LOOKUP]]
            query: dict[str, Any]
            if by_id:
                query = {"_id": {"$in": [sel["_id"] for sel in selectors]}}
            else:
                query = {"$or": [dict(sel) for sel in selectors]}
            for doc in collection.find(query):
                found[doc["_id"] if by_id else tuple(doc.get(k) for k in table.key)] = doc
        lookup: Callable[[Mapping[str, Any]], Any] = (
            (lambda sel: sel["_id"]) if by_id else (lambda sel: tuple(sel[k] for k in table.key))
        )
        for record, sel, rest in rows:
            existing = found.get(lookup(sel))
            if existing is not None and _from_doc(table, existing) == _canonical(table, sel, rest):
                self._report.unchanged += 1
            else:
                self._report.conflict(table.key_text(record))


def import_tables(
    db: MongoDatabase, tables: Sequence[Table], records: Iterable[Mapping[str, Any]]
) -> ImportReport:
    """Insert the records that are absent; count equal ones and conflicts (see records.py)."""
    report = ImportReport()
    importer = _Importer(db, report)
    current: Table | None = None
    batch: list[Mapping[str, Any]] = []
    for table, record in route(tables, records):
        if table is not current or len(batch) >= BATCH:
            if current is not None:
                importer.flush(current, batch)
            current, batch = table, []
        batch.append(record)
    if current is not None:
        importer.flush(current, batch)
    return report


class MongoPortable(Portable):
    """The export and import every MongoDB repository shares: its TABLES, through this module.

    A repository lists it after its domain interface (`class X(XRepository, MongoPortable)`): the
    interface's TABLES, these methods for the ones `Portable` asks for.
    """

    _db: MongoDatabase

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)
