"""RAG document records on SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence

from core.db._sqlite_records import SqlitePortable
from core.db.codec import SQLITE, restamp
from core.db.sqlite import Migration, SqliteDatabase
from core.rag.repository import (
    EVERY,
    PENDING,
    READY,
    DocumentRecord,
    DocumentRepository,
    PassageIndex,
    State,
    scope_keys,
    stored_key,
)
from core.scope import Scope

MIGRATIONS = (
    Migration(
        "rag_0001_create",
        """
        CREATE TABLE rag_documents (
            doc_id TEXT PRIMARY KEY,
            scope TEXT NOT NULL,
            title TEXT NOT NULL,
            source TEXT NOT NULL,
            user_id TEXT,
            tags TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            chunk_count INTEGER NOT NULL,
            ingested_at TEXT NOT NULL,
            embedding_model TEXT NOT NULL,
            state TEXT NOT NULL
        );
        CREATE UNIQUE INDEX rag_documents_scope_source ON rag_documents (scope, source);
        CREATE INDEX rag_documents_user ON rag_documents (user_id);
        """,
    ),
    Migration(
        "rag_0002_lines",
        # Boilerplate detection (core.rag.boilerplate): which line keys each document holds.
        """
        CREATE TABLE rag_lines (
            doc_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            line TEXT NOT NULL,
            PRIMARY KEY (doc_id, line)
        ) WITHOUT ROWID;
        CREATE INDEX rag_lines_scope_line ON rag_lines (scope, line);
        """,
    ),
    # ingested_at was isoformat() text of any width; now fixed-width UTC (core.db.codec).
    Migration("rag_0003_utc_stamps", restamp("rag_documents", "ingested_at")),
)

_COLUMNS = (
    "doc_id scope title source user_id tags content_hash chunk_count ingested_at"
    " embedding_model state"
).split()
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM rag_documents"
_PUT = (
    f"INSERT OR REPLACE INTO rag_documents ({', '.join(_COLUMNS)})"
    f" VALUES ({','.join('?' * len(_COLUMNS))})"
)
# SQLite's default limit on bound parameters per statement is 32766; stay far below.
_CHUNK = 500


def _record(row: sqlite3.Row) -> DocumentRecord:
    return SQLITE.decode(DocumentRecord, row, tags=tuple(json.loads(row["tags"])))


def _pending(record: DocumentRecord) -> tuple[object, ...]:
    row = SQLITE.encode(record)
    row.update(tags=json.dumps(list(record.tags), ensure_ascii=False), state=PENDING)
    return tuple(row[column] for column in _COLUMNS)


def _batches(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(batch: Sequence[object]) -> str:
    return ",".join("?" * len(batch))


class SqliteDocumentRepository(DocumentRepository, SqlitePortable):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._passage_index: PassageIndex | None = None
        db.migrate(MIGRATIONS)

    def get(self, doc_id: str) -> DocumentRecord | None:
        row = self._db.one(f"{_SELECT} WHERE doc_id = ?", (doc_id,))
        return None if row is None else _record(row)

    def find(
        self,
        *,
        scopes: Iterable[Scope | str] = EVERY,
        user_id: str | None = None,
        source_prefix: str | None = None,
        state: State | None = None,
    ) -> list[DocumentRecord]:
        where: list[str] = []
        params: list[object] = []
        keys = scope_keys(scopes)
        if keys is not None:
            if not keys:
                return []
            where.append(f"scope IN ({_marks(keys)})")
            params.extend(keys)
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        if source_prefix is not None:
            # substr() rather than LIKE: a path may hold % or _.
            where.append("substr(source, 1, ?) = ?")
            params.extend([len(source_prefix), source_prefix])
        if state is not None:
            where.append("state = ?")
            params.append(state)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.all(f"{_SELECT}{clause} ORDER BY source, doc_id", params)
        return [_record(row) for row in rows]

    def put_pending(self, records: Sequence[DocumentRecord]) -> None:
        with self._db.transaction() as conn:
            conn.executemany(_PUT, [_pending(r) for r in records])

    def mark_ready(self, doc_ids: Sequence[str]) -> int:
        changed = 0
        with self._db.transaction() as conn:
            for batch in _batches(list(doc_ids)):
                changed += conn.execute(
                    f"UPDATE rag_documents SET state = ? WHERE doc_id IN ({_marks(batch)})",
                    (READY, *batch),
                ).rowcount
        return changed

    def set_model(self, embedding_model: str) -> int:
        return self._db.run("UPDATE rag_documents SET embedding_model = ?", (embedding_model,))

    def delete(self, doc_ids: Sequence[str]) -> int:
        deleted = 0
        with self._db.transaction() as conn:
            for batch in _batches(list(doc_ids)):
                marks = _marks(batch)
                deleted += conn.execute(
                    f"DELETE FROM rag_documents WHERE doc_id IN ({marks})", batch
                ).rowcount
                conn.execute(f"DELETE FROM rag_lines WHERE doc_id IN ({marks})", batch)
        return deleted

    def put_lines(self, scope: Scope | str, lines: Mapping[str, Collection[str]]) -> None:
        key = stored_key(scope)
        with self._db.transaction() as conn:
            for batch in _batches(list(lines)):
                conn.execute(f"DELETE FROM rag_lines WHERE doc_id IN ({_marks(batch)})", batch)
            conn.executemany(
                "INSERT INTO rag_lines (doc_id, scope, line) VALUES (?,?,?)",
                [(doc_id, key, line) for doc_id, keys in lines.items() for line in set(keys)],
            )

    def template_lines(self, scope: Scope | str, *, document_key: str, threshold: int) -> set[str]:
        rows = self._db.all(
            "SELECT line FROM rag_lines WHERE scope = ? AND line != ?"
            " GROUP BY line HAVING COUNT(*) >= ?",
            (stored_key(scope), document_key, threshold),
        )
        return {row[0] for row in rows}

    def line_documents(self, scope: Scope | str, *, document_key: str) -> int:
        return int(
            self._db.value(
                "SELECT COUNT(*) FROM rag_lines WHERE scope = ? AND line = ?",
                (stored_key(scope), document_key),
            )
        )

    def passages(self) -> PassageIndex:
        from core.rag._sqlite_passages import SqlitePassageIndex

        if self._passage_index is None:
            self._passage_index = SqlitePassageIndex(self._db)
        return self._passage_index

    def counts(self) -> dict[str, int]:
        row = self._db.one(
            "SELECT COUNT(*), COALESCE(SUM(state = 'pending'), 0),"
            " COALESCE(SUM(chunk_count), 0), COUNT(DISTINCT scope) FROM rag_documents"
        )
        assert row is not None  # an aggregate always gives one row
        return {"documents": row[0], "pending": row[1], "chunks": row[2], "scopes": row[3]}
