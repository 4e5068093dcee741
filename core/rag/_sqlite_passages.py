"""The lexical index on SQLite: FTS5 over the chunks, BM25-ranked, filtered by scope.

`rag_passages` holds one row per chunk (id, document, scope, title, heading, text);
`rag_passages_fts` is an external-content FTS5 index over its title, heading and text, kept in
step by triggers, so a delete by document id uses the ordinary index on `doc_id`. The scope
filter sits in the same statement as the MATCH, before ORDER BY and LIMIT.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.db.sqlite import Migration, SqliteDatabase
from core.rag.lexical import LexicalQuery
from core.rag.repository import LexicalHit, Passage, PassageIndex, scope_keys
from core.scope import Scope

MIGRATIONS = (
    Migration(
        "rag_passages_0001_fts5",
        """
        CREATE TABLE rag_passages (
            id INTEGER PRIMARY KEY,
            chunk_id TEXT NOT NULL UNIQUE,
            doc_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            title TEXT NOT NULL,
            heading TEXT NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX rag_passages_doc ON rag_passages (doc_id);
        CREATE VIRTUAL TABLE rag_passages_fts USING fts5(
            title, heading, text,
            content='rag_passages', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER rag_passages_ai AFTER INSERT ON rag_passages BEGIN
            INSERT INTO rag_passages_fts (rowid, title, heading, text)
            VALUES (new.id, new.title, new.heading, new.text);
        END;
        CREATE TRIGGER rag_passages_ad AFTER DELETE ON rag_passages BEGIN
            INSERT INTO rag_passages_fts (rag_passages_fts, rowid, title, heading, text)
            VALUES ('delete', old.id, old.title, old.heading, old.text);
        END;
        """,
    ),
)
# BM25 weights of title, heading and text: a name in a title says more than one in passing.
_WEIGHTS = (4.0, 2.0, 1.0)
_CHUNK = 500


class SqlitePassageIndex(PassageIndex):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.migrate(MIGRATIONS)

    def put(self, passages: Sequence[Passage]) -> None:
        if not passages:
            return
        with self._db.transaction() as conn:
            # Delete then insert (not REPLACE): the delete trigger keeps the FTS index exact.
            ids = [p.chunk_id for p in passages]
            for start in range(0, len(ids), _CHUNK):
                batch = ids[start : start + _CHUNK]
                conn.execute(
                    f"DELETE FROM rag_passages WHERE chunk_id IN ({','.join('?' * len(batch))})",
                    batch,
                )
            conn.executemany(
                "INSERT INTO rag_passages (chunk_id, doc_id, scope, title, heading, text)"
                " VALUES (?,?,?,?,?,?)",
                [(p.chunk_id, p.doc_id, p.scope, p.title, p.heading, p.text) for p in passages],
            )

    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        self._delete("doc_id", doc_ids)

    def delete_ids(self, chunk_ids: Sequence[str]) -> None:
        self._delete("chunk_id", chunk_ids)

    def _delete(self, column: str, values: Sequence[str]) -> None:
        if not values:
            return
        with self._db.transaction() as conn:
            for start in range(0, len(values), _CHUNK):
                batch = list(values[start : start + _CHUNK])
                conn.execute(
                    f"DELETE FROM rag_passages WHERE {column} IN ({','.join('?' * len(batch))})",
                    batch,
                )

    def search(
        self, query: LexicalQuery, *, scopes: Iterable[Scope | str], limit: int
    ) -> list[LexicalHit]:
        keys = scope_keys(scopes)
        if not query or keys == []:
            return []
        in_scopes = "" if keys is None else f" AND p.scope IN ({','.join('?' * len(keys))})"
        rows = self._db.all(
            "SELECT p.chunk_id, p.doc_id, bm25(rag_passages_fts, ?, ?, ?) AS rank"
            " FROM rag_passages_fts JOIN rag_passages p ON p.id = rag_passages_fts.rowid"
            f" WHERE rag_passages_fts MATCH ?{in_scopes} ORDER BY rank LIMIT ?",
            (*_WEIGHTS, query.fts5(), *(keys or ()), limit),
        )
        # bm25() is lower-is-better (negative); flip it so higher is better.
        return [LexicalHit(row[0], row[1], -float(row[2])) for row in rows]

    def counts(self) -> dict[str, int]:
        rows = self._db.all("SELECT doc_id, COUNT(*) FROM rag_passages GROUP BY doc_id")
        return {row[0]: int(row[1]) for row in rows}

    def empty(self) -> bool:
        return self._db.one("SELECT 1 FROM rag_passages LIMIT 1") is None
