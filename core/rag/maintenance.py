"""Keeping the knowledge base honest: verify/repair, reindex under a new model, evaluation.

`verify` reconciles the document records with the chunks in Chroma. What a crash or a
manual edit can leave behind, and what `--repair` does about it:

- a pending record whose chunks are all there (crash after the vector write): marked ready;
- a pending record with missing or foreign chunks (crash before or during the write),
  or a ready record whose chunk count disagrees: chunks and record removed (re-ingest it);
- chunks whose document has no record (crash while deleting): chunks removed.

Run a repair while no ingest is running: an ingest in progress looks like a crash.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput, NotFound, Refused
from core.input_files import read_input_file
from core.rag.ingestion import remove_records
from core.rag.parts import Parts
from core.rag.repository import PENDING, READY, DocumentRecord

if TYPE_CHECKING:
    from core.progress import Progress
    from core.rag.service import QueryResult

log = logging.getLogger(__name__)

REINDEX_SUFFIX = "-reindex"


@dataclass(frozen=True)
class Problem:
    doc_id: str
    kind: str  # pending | count_mismatch | orphan_vectors
    detail: str
    action: str | None = None  # what --repair did


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    documents: int
    vectors: int
    problems: list[Problem]
    repaired: bool


@dataclass(frozen=True)
class EvalReport:
    recall_at_k: float
    mrr: float
    ndcg_at_k: float
    k: int
    n: int
    misses: list[dict[str, Any]] = field(default_factory=list)


def verify(
    parts: Parts, *, repair: bool = False, force: bool = False, dry_run: bool = False
) -> VerifyReport:
    """Compare records with Chroma's chunks; with repair, fix what can be fixed.

    repair with dry_run makes every check a repair makes (refusing the same way) and
    lists each problem with the action a repair would take, changing nothing.

    Raises Refused, before changing anything, when the repair would delete more than half
    of the vectors or of the ready documents, unless force (see _check_repair_size).
    """
    records = {r.doc_id: r for r in parts.repo.find()}
    counts: dict[str, int] = {}
    hashes: dict[str, set[str]] = {}
    vectors = 0
    # A deleted chroma/ is reported, not recreated empty by a command that only checks.
    missing = parts.store_missing()
    for row in [] if missing else parts.store.scan():
        vectors += 1
        doc_id = str(row["metadata"].get("doc_id", ""))
        counts[doc_id] = counts.get(doc_id, 0) + 1
        hashes.setdefault(doc_id, set()).add(str(row["metadata"].get("content_hash", "")))
    problems: list[Problem] = []
    complete: list[str] = []
    broken: list[DocumentRecord] = []
    for doc_id, record in records.items():
        have = counts.get(doc_id, 0)
        intact = have == record.chunk_count and hashes.get(doc_id, {record.content_hash}) == {
            record.content_hash
        }
        if record.state == PENDING:
            if intact and have:
                complete.append(doc_id)
                problems.append(
                    Problem(doc_id, "pending", "write interrupted after its chunks", "marked ready")
                )
            else:
                broken.append(record)
                problems.append(
                    Problem(
                        doc_id,
                        "pending",
                        f"write interrupted: {have} of {record.chunk_count} chunks",
                        f"removed; re-ingest {record.source}",
                    )
                )
        elif not intact:
            broken.append(record)
            problems.append(
                Problem(
                    doc_id,
                    "count_mismatch",
                    f"record says {record.chunk_count} chunks, the store has {have}",
                    f"removed; re-ingest {record.source}",
                )
            )
    orphans = sorted(doc_id for doc_id in counts if doc_id not in records)
    problems.extend(
        Problem(doc_id, "orphan_vectors", f"{counts[doc_id]} chunks without a record", "removed")
        for doc_id in orphans
    )
    lexical = (
        [] if missing else _lexical_problems(parts, records, counts, {r.doc_id for r in broken})
    )
    problems.extend(lexical)
    ready = sum(1 for r in records.values() if r.state == READY)
    if ready and not vectors:
        where = "is missing" if missing else "holds no vectors"
        problems.insert(
            0,
            Problem(
                "",
                "store_missing" if missing else "store_empty",
                f"the vector store {where} but {ready:,} documents are recorded (deleted?); "
                "'abby rag ingest' their folders again to re-embed them",
            ),
        )
    if repair and problems and not force:
        _check_repair_size(
            vectors=vectors,
            doomed_vectors=sum(counts.get(r.doc_id, 0) for r in broken)
            + sum(counts[d] for d in orphans),
            ready=ready,
            doomed_ready=sum(1 for r in broken if r.state == READY),
        )
    if repair and problems and not dry_run:
        parts.repo.mark_ready(complete)
        remove_records(parts, broken)
        parts.store.delete_documents(orphans)
        _repair_lexical(parts, lexical)
        log.info(
            "rag repair: %d completed, %d removed, %d orphan documents' chunks removed",
            len(complete),
            len(broken),
            len(orphans),
        )
        parts.events.emit(
            "rag_repair",
            {"completed": len(complete), "removed": len(broken), "orphans": len(orphans)},
        )
    elif not (repair and dry_run):
        problems = [replace(p, action=None) for p in problems]
    return VerifyReport(
        ok=not problems,
        documents=len(records),
        vectors=vectors,
        problems=problems,
        repaired=repair and bool(problems) and not dry_run,
    )


def _lexical_problems(
    parts: Parts,
    records: Mapping[str, DocumentRecord],
    counts: Mapping[str, int],
    removed: set[str],
) -> list[Problem]:
    """Where the word index (core.rag.lexical) is out of step with the vectors.

    Derived data, so a repair never loses anything here: it rebuilds a document's passages
    from its chunks in the vector store, or drops passages that belong to no document.
    """
    have = parts.repo.passages().counts()
    if not have and counts:
        return [
            Problem(
                "",
                "lexical_missing",
                f"the word index holds none of the {sum(counts.values()):,} chunks "
                "(a store from before it existed)",
                "built from the vector store",
            )
        ]
    problems = [
        Problem(
            doc_id,
            "lexical_mismatch",
            f"the word index has {have.get(doc_id, 0)} of its {n} chunks",
            "rebuilt from the vector store",
        )
        for doc_id, n in sorted(counts.items())
        if doc_id in records and doc_id not in removed and have.get(doc_id, 0) != n
    ]
    problems += [
        Problem(doc_id, "lexical_orphan", f"{n} passages without a document", "removed")
        for doc_id, n in sorted(have.items())
        if doc_id not in records and doc_id not in counts  # orphan vectors take theirs along
    ]
    return problems


def _repair_lexical(parts: Parts, problems: list[Problem]) -> None:
    from core.rag.search import rebuild_passages

    index = parts.repo.passages()
    if any(p.kind == "lexical_missing" for p in problems):
        rebuild_passages(parts.store.vectors, index)
        return
    stale = {p.doc_id for p in problems if p.kind == "lexical_mismatch"}
    if stale:
        rebuild_passages(parts.store.vectors, index, stale)
    index.delete_documents([p.doc_id for p in problems if p.kind == "lexical_orphan"])


def _check_repair_size(*, vectors: int, doomed_vectors: int, ready: int, doomed_ready: int) -> None:
    """Refuse a repair that would delete more than half of the vectors or ready documents.

    An interrupted ingest leaves a few pending documents; an emptied database makes every
    vector an orphan, and a deleted store makes every record a mismatch. Repairing those
    would finish the loss (re-ingesting the folders is the cure), so it takes --force.
    """
    if doomed_vectors * 2 > vectors or doomed_ready * 2 > ready:
        raise Refused(
            f"repair refused: it would delete {doomed_vectors:,} of {vectors:,} vectors and "
            f"{doomed_ready:,} of {ready:,} ready documents, more than half of the knowledge "
            "base; a lost database or vector store is healed by re-ingesting the folders, "
            "not by repair (pass --force to repair anyway)"
        )


def reindex(
    parts: Parts,
    *,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Re-chunk and re-embed every document with the current chunker and configured model
    into a new collection, then swap (core.rag.migration).

    The old collection serves queries until the swap; a crash before the swap leaves it
    untouched (the next reindex starts over). The new records are written just before the
    swap, so a crash between the two is healed by the recovery below. `dry_run` reports the
    chunks and models of the reindex it would run, and changes nothing. `progress(done,
    total)` counts the old store's chunks.
    """
    from core.rag.documents import DOCUMENT_SUFFIX
    from core.rag.migration import rebuild
    from core.rag.search import rebuild_passages
    from core.rag.versions import index_status

    name = parts.settings.collection
    target = parts.embedder
    repo = parts.repo
    old = parts.open_collection(name)
    temp = parts.open_collection(name + REINDEX_SUFFIX)
    old_documents = parts.open_collection(name + DOCUMENT_SUFFIX)
    temp_documents = parts.open_collection(name + REINDEX_SUFFIX + DOCUMENT_SUFFIX)
    if not old.exists():
        if temp.exists():  # a crash between dropping the old and renaming the new one
            if temp_documents.exists() and not old_documents.exists():
                temp_documents.rename_to(name + DOCUMENT_SUFFIX)
            temp.rename_to(name)
            parts.close_store()
            rebuild_passages(parts.store.vectors, repo.passages())
            return {"chunks": 0, "from_model": None, "to_model": target.model_name}
        raise NotFound("there is no knowledge base to reindex yet; run 'abby rag ingest' first")
    from_model, _ = old.stored_model()
    status = index_status(repo, parts.model_name())
    if dry_run:
        return {
            "dry_run": True,
            "chunks": old.count(),
            "documents": len(repo.find()),
            "from_model": from_model,
            "to_model": target.model_name,
            "reason": status.reason,
        }
    for leftover in (temp, temp_documents):
        if leftover.exists():
            leftover.drop()
    before = old.count()
    records = rebuild(parts, old, temp, progress=progress, document_store=temp_documents)
    kept = {r.doc_id for r in records}
    empty = [r for r in repo.find() if r.doc_id not in kept]
    repo.put_pending(records)
    repo.mark_ready([r.doc_id for r in records])
    repo.delete([r.doc_id for r in empty])  # no text left to index
    # The old document vectors go first: a crash after this ranks by best chunk alone,
    # never by another model's document vectors.
    if old_documents.exists():
        old_documents.drop()
    old.drop()
    temp.rename_to(name)
    temp_documents.rename_to(name + DOCUMENT_SUFFIX)
    parts.close_store()  # the service's handle pointed at the dropped collection
    index = repo.passages()
    index.delete_documents([r.doc_id for r in records])
    rebuild_passages(parts.store.vectors, index)
    chunks = sum(r.chunk_count for r in records)
    log.info(
        "rag reindex: %d documents, %d chunks (were %d) from %s to %s",
        len(records),
        chunks,
        before,
        from_model,
        target.model_name,
    )
    parts.events.emit(
        "rag_reindex", {"chunks": chunks, "documents": len(records), "model": target.model_name}
    )
    return {
        "dry_run": False,
        "chunks": chunks,
        "chunks_before": before,
        "documents": len(records),
        "from_model": from_model,
        "to_model": target.model_name,
        "reason": status.reason,
    }


def read_eval_file(path: Path) -> list[dict[str, Any]]:
    """Read JSON lines of questions; raise InvalidInput naming a bad line.

    Each line is {"query": ..., "expected": ...} (a substring of the expected source path or
    title) or {"query": ..., "source": ...} (the expected file's name, compared exactly with
    the name of each result's source; a list when several documents answer).
    """
    try:
        # A regular file only: a FIFO given here used to hang the command.
        data = read_input_file(path, max_bytes=64 * 1024 * 1024, what="eval file")
        lines = data.decode("utf-8").splitlines()
    except FileNotFoundError:
        raise NotFound(f"eval file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read eval file {path}: {exc}") from None
    cases: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError:
            raise InvalidInput(f"{path}:{number}: not a JSON object") from None
        if not isinstance(case, dict) or not _text(case.get("query")):
            raise InvalidInput(f'{path}:{number}: needs a "query" string')
        sources = case.get("source")
        if isinstance(sources, str):
            sources = [sources]
        if sources is not None:
            if not isinstance(sources, list) or not sources or not all(map(_text, sources)):
                raise InvalidInput(f'{path}:{number}: "source" must be a file name or a list')
            cases.append({"query": case["query"], "source": sources})
        elif _text(case.get("expected")):
            cases.append({"query": case["query"], "expected": case["expected"]})
        else:
            raise InvalidInput(f'{path}:{number}: needs an "expected" or a "source" string')
    if not cases:
        raise InvalidInput(f"eval file {path} holds no questions")
    return cases


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _relevant(case: Mapping[str, Any]) -> tuple[Callable[[QueryResult], str | None], int]:
    """A function naming the relevant document a result is (None if not), and how many exist."""
    if "source" in case:
        names = {str(name).casefold() for name in case["source"]}
        return (lambda r: n if (n := Path(r.source).name.casefold()) in names else None), len(names)
    expected = str(case["expected"]).casefold()

    def match(r: QueryResult) -> str | None:
        hit = expected in r.source.casefold() or expected in r.title.casefold()
        return r.doc_id if hit else None

    return match, 1


def evaluate(
    query: Callable[..., list[QueryResult]],
    cases: Iterable[Mapping[str, Any]],
    *,
    guild_id: str | None = None,
    k: int = 5,
    **query_options: Any,  # noqa: ANN401 - RagService.query's options, passed through
) -> EvalReport:
    """Recall@k, MRR and nDCG@k of the first k results (query_options go to query()).

    Relevance is binary and counted once per relevant document, at the rank of its first
    result: with --passages a document's second chunk neither helps nor hurts. nDCG@k is
    DCG (sum of 1/log2(rank + 1) over relevant documents found) over the best possible DCG.
    """
    hits = 0
    reciprocal = 0.0
    gain = 0.0
    misses: list[dict[str, Any]] = []
    n = 0
    for case in cases:
        n += 1
        relevant, total = _relevant(case)
        results = query(case["query"], guild_id=guild_id, top_k=k, min_score=-1.0, **query_options)[
            :k
        ]
        found: dict[str, int] = {}
        for rank, result in enumerate(results, 1):
            name = relevant(result)
            if name is not None and name not in found:
                found[name] = rank
        if not found:
            misses.append(
                {
                    "query": case["query"],
                    "expected": case.get("expected") or ", ".join(case["source"]),
                    "got": [Path(r.source).name or r.title for r in results],
                }
            )
            continue
        hits += 1
        reciprocal += 1.0 / min(found.values())
        ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(total, k) + 1))
        ranks = sorted(found.values())[:total]  # a substring may match several documents
        gain += sum(1.0 / math.log2(rank + 1) for rank in ranks) / ideal
    return EvalReport(
        recall_at_k=round(hits / n, 4) if n else 0.0,
        mrr=round(reciprocal / n, 4) if n else 0.0,
        ndcg_at_k=round(gain / n, 4) if n else 0.0,
        k=k,
        n=n,
        misses=misses,
    )


__all__ = ["READY", "EvalReport", "Problem", "VerifyReport", "evaluate", "reindex", "verify"]
