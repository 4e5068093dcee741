"""RAG document records on SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime

from core.db._sqlite_records import export_tables, import_tables
from core.db.records import ImportReport, Records, RecordStream
from core.db.sqlite import Migration, SqliteDatabase
from core.ids import guild_of
from core.rag.repository import READY, DocumentRecord, DocumentRepository, PassageIndex, State

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
)

_COLUMNS = (
    "doc_id, scope, title, source, user_id, tags, content_hash, chunk_count, ingested_at,"
    " embedding_model, state"
)
_PUT = f"INSERT OR REPLACE INTO rag_documents ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
# SQLite's default limit on bound parameters per statement is 32766; stay far below.
_CHUNK = 500


def _row(row: sqlite3.Row) -> DocumentRecord:
    return DocumentRecord(
        doc_id=row["doc_id"],
        guild_id=guild_of(row["scope"]),
        title=row["title"],
        source=row["source"],
        user_id=row["user_id"],
        tags=tuple(json.loads(row["tags"])),
        content_hash=row["content_hash"],
        chunk_count=row["chunk_count"],
        ingested_at=datetime.fromisoformat(row["ingested_at"]),
        embedding_model=row["embedding_model"],
        state=row["state"],
    )


def _batches(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class SqliteDocumentRepository(DocumentRepository):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._passage_index: PassageIndex | None = None
        db.migrate(MIGRATIONS)

    # --- moving data between backends (core.db.records) ----------------------------------

    def export(self) -> RecordStream:
        return export_tables(self._db, self.TABLES)

    def import_(self, records: Records) -> ImportReport:
        return import_tables(self._db, self.TABLES, records)

    def get(self, doc_id: str) -> DocumentRecord | None:
        with self._db.errors():
            row = (
                self._db.connection()
                .execute(f"SELECT {_COLUMNS} FROM rag_documents WHERE doc_id = ?", (doc_id,))
                .fetchone()
            )
        return None if row is None else _row(row)

    def get_many(self, doc_ids: Iterable[str]) -> dict[str, DocumentRecord]:
        ids = list(dict.fromkeys(doc_ids))
        found: dict[str, DocumentRecord] = {}
        with self._db.errors():
            for batch in _batches(ids):
                marks = ",".join("?" * len(batch))
                for row in self._db.connection().execute(
                    f"SELECT {_COLUMNS} FROM rag_documents WHERE doc_id IN ({marks})", batch
                ):
                    found[row["doc_id"]] = _row(row)
        return found

    def find(
        self,
        *,
        scopes: Sequence[str] | None = None,
        user_id: str | None = None,
        source_prefix: str | None = None,
        state: State | None = None,
    ) -> list[DocumentRecord]:
        where: list[str] = []
        params: list[object] = []
        if scopes is not None:
            if not scopes:
                return []
            where.append(f"scope IN ({','.join('?' * len(scopes))})")
            params.extend(scopes)
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
        with self._db.errors():
            rows = self._db.connection().execute(
                f"SELECT {_COLUMNS} FROM rag_documents{clause} ORDER BY source, doc_id", params
            )
            return [_row(row) for row in rows]

    def put_pending(self, records: Sequence[DocumentRecord]) -> None:
        with self._db.transaction() as conn:
            conn.executemany(
                _PUT,
                [
                    (
                        r.doc_id,
                        r.scope,
                        r.title,
                        r.source,
                        r.user_id,
                        json.dumps(list(r.tags), ensure_ascii=False),
                        r.content_hash,
                        r.chunk_count,
                        r.ingested_at.isoformat(),
                        r.embedding_model,
                        "pending",
                    )
                    for r in records
                ],
            )

    def mark_ready(self, doc_ids: Sequence[str]) -> int:
        changed = 0
        with self._db.transaction() as conn:
            for batch in _batches(list(doc_ids)):
                marks = ",".join("?" * len(batch))
                changed += conn.execute(
                    f"UPDATE rag_documents SET state = ? WHERE doc_id IN ({marks})",
                    (READY, *batch),
                ).rowcount
        return changed

    def set_model(self, embedding_model: str) -> int:
        with self._db.errors():
            return (
                self._db.connection()
                .execute("UPDATE rag_documents SET embedding_model = ?", (embedding_model,))
                .rowcount
            )

    def delete(self, doc_ids: Sequence[str]) -> int:
        deleted = 0
        with self._db.transaction() as conn:
            for batch in _batches(list(doc_ids)):
                marks = ",".join("?" * len(batch))
                deleted += conn.execute(
                    f"DELETE FROM rag_documents WHERE doc_id IN ({marks})", batch
                ).rowcount
                conn.execute(f"DELETE FROM rag_lines WHERE doc_id IN ({marks})", batch)
        return deleted

    def put_lines(self, scope: str, lines: Mapping[str, Collection[str]]) -> None:
        with self._db.transaction() as conn:
            for batch in _batches(list(lines)):
                marks = ",".join("?" * len(batch))
                conn.execute(f"DELETE FROM rag_lines WHERE doc_id IN ({marks})", batch)
            conn.executemany(
                "INSERT INTO rag_lines (doc_id, scope, line) VALUES (?,?,?)",
                [(doc_id, scope, key) for doc_id, keys in lines.items() for key in set(keys)],
            )

    def template_lines(self, scope: str, *, document_key: str, threshold: int) -> set[str]:
        with self._db.errors():
            rows = self._db.connection().execute(
                "SELECT line FROM rag_lines WHERE scope = ? AND line != ?"
                " GROUP BY line HAVING COUNT(*) >= ?",
                (scope, document_key, threshold),
            )
            return {row[0] for row in rows}

    def line_documents(self, scope: str, *, document_key: str) -> int:
        with self._db.errors():
            return int(
                self._db.connection()
                .execute(
                    "SELECT COUNT(*) FROM rag_lines WHERE scope = ? AND line = ?",
                    (scope, document_key),
                )
                .fetchone()[0]
            )

    def passages(self) -> PassageIndex:
        from core.rag._sqlite_passages import SqlitePassageIndex

        if self._passage_index is None:
            self._passage_index = SqlitePassageIndex(self._db)
        return self._passage_index

    def counts(self) -> dict[str, int]:
        with self._db.errors():
            row = (
                self._db.connection()
                .execute(
                    "SELECT COUNT(*), COALESCE(SUM(state = 'pending'), 0),"
                    " COALESCE(SUM(chunk_count), 0), COUNT(DISTINCT scope) FROM rag_documents"
                )
                .fetchone()
            )
        return {"documents": row[0], "pending": row[1], "chunks": row[2], "scopes": row[3]}
