"""`abby rag`: the knowledge base — ingest folders, query them, keep them consistent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import DryRunOpt, GuildOpt, JsonOpt, UserOpt, YesOpt
from core.scope import Scope

app = typer.Typer(
    help="The knowledge base: ingest documents, search them, keep the index consistent.",
    no_args_is_help=True,
)

SNIPPET_CHARS = 160

PerDocumentOpt = Annotated[
    int | None,
    typer.Option(
        "--per-document", min=1, max=100, help="At most N passages of one document (default 1)."
    ),
]
PassagesOpt = Annotated[
    bool, typer.Option("--passages", help="Rank raw passages, several of one document allowed.")
]


def _shown(source: str) -> str:
    """A source path relative to the current directory when it lies inside it."""
    if source.startswith("/"):
        try:
            relative = os.path.relpath(source)
        except ValueError:
            return source
        if not relative.startswith(".."):
            return relative
    return source


def _snippet(text: str, full: bool = False) -> str:
    flat = " ".join(text.split())
    if full or len(flat) <= SNIPPET_CHARS:
        return flat
    return flat[: SNIPPET_CHARS - 1] + "…"


FullOpt = Annotated[
    bool, typer.Option("--full", help="Show each passage whole, not cut at 160 characters.")
]


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    guild: GuildOpt = None,
    user: UserOpt = None,
    tags: Annotated[str | None, typer.Option("--tags", help="Comma-separated tags.")] = None,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Remove documents whose files vanished under the folders."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Ingest files and folders (.md .markdown .txt .rst .html .htm .pdf).

    Unchanged documents are skipped without embedding; changed ones are replaced. Only
    regular files whose real path stays inside the folder are read (links out of it, FIFOs
    and Abby's own data dir are skipped); a file that cannot be read is listed with the
    reason and the rest are ingested (exit 0).
    """
    service = runtime.context().rag
    # Embedding is the work: the bar counts chunks, with the files read as a second line.
    with output.progress(
        "embedding", unit="chunks", second="reading files", second_unit="files"
    ) as meter:
        report = service.ingest_paths(
            paths,
            guild_id=guild,
            user_id=user,
            tags=tags,
            prune=prune,
            progress=meter,
            files=meter.second,
        )
    if runtime.state.json:
        output.show(report)
        return
    output.show(
        {k: v for k, v in output.to_jsonable(report).items() if k != "skipped"},
        columns=["documents", "added", "updated", "unchanged", "removed", "chunks", "seconds"],
    )
    if report.skipped:
        output.show(
            [{"skipped": _shown(s.path), "reason": s.reason} for s in report.skipped],
        )
        output.warn(f"{len(report.skipped)} file(s) skipped, each with its reason above")


@app.command()
def query(
    text: Annotated[str, typer.Argument(help="A question or a few keywords.")],
    guild: GuildOpt = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", "-k", help="Results to return (1-100).")
    ] = None,
    min_score: Annotated[
        float | None,
        typer.Option("--min-score", help="Drop results below this cosine similarity (-1..1)."),
    ] = None,
    per_document: PerDocumentOpt = None,
    passages: PassagesOpt = False,
    full: FullOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Search the knowledge base; a guild sees its own documents and global ones.

    Returns the best passage of each of the best documents (--per-document N allows more of
    one document; --passages ranks raw passages). Hits whose cosine similarity is below
    the calibrated floor (core.rag.relevance, 0.3) are marked weak: probably not an answer.
    """
    results = runtime.context().rag.query(
        text,
        guild_id=guild,
        top_k=top_k,
        min_score=min_score,
        per_document=per_document,
        passages=passages,
    )
    from core.rag.relevance import WEAK_BELOW, is_weak

    if runtime.state.json:
        output.show([{**output.to_jsonable(r), "weak": is_weak(r.score)} for r in results])
        return
    output.show(
        [
            {
                "#": rank,
                "score": f"{r.score:.3f}" + (" weak" if is_weak(r.score) else ""),
                "title": r.title + (f" › {r.heading}" if r.heading else ""),
                "source": _shown(r.source),
                "snippet": _snippet(r.text, full),
            }
            for rank, r in enumerate(results, 1)
        ],
        empty="No results. Ingest documents first (abby rag ingest PATH), or lower --min-score.",
    )
    weak = sum(is_weak(r.score) for r in results)
    if weak:
        output.warn(
            f"{weak} of {len(results)} hit(s) score below {WEAK_BELOW} (marked weak): probably"
            " not an answer; the knowledge base may not cover this question"
        )


@app.command("list")
def list_documents(
    guild: GuildOpt = None,
    user: UserOpt = None,
    all_guilds: Annotated[
        bool, typer.Option("--all", help="Every guild's documents (operators).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """List the documents a guild can see (its own and global ones)."""
    records = runtime.context().rag.list(
        Scope.EVERY if all_guilds else Scope.of(guild), user_id=user
    )
    if runtime.state.json:
        output.show(records)
        return
    output.show(
        [
            {
                "doc_id": r.doc_id,
                "guild": r.guild_id or "(global)",
                "title": r.title,
                "source": _shown(r.source),
                "chunks": r.chunk_count,
                "state": r.state,
                "ingested": r.ingested_at.strftime("%Y-%m-%d %H:%M"),
            }
            for r in records
        ],
        empty="No documents yet: abby rag ingest PATH",
    )


@app.command()
def delete(
    doc_id: Annotated[str, typer.Argument(help="The document id (see 'abby rag list').")],
    guild: GuildOpt = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete a document and its chunks (with --guild, only that guild's own documents)."""
    service = runtime.context().rag
    record = service.get(doc_id, guild_id=guild)
    output.confirm(
        f"delete {record.title!r} ({record.chunk_count} chunks)", yes=yes, dry_run=dry_run
    )
    if dry_run:
        output.message(f"Would delete {record.title!r} ({record.chunk_count} chunks).")
        output.show({"deleted": False, "dry_run": True, "document": record})
        return
    service.delete(doc_id, guild_id=guild)
    output.show({"deleted": True, "dry_run": False, "document": record})


@app.command()
def stats(json_out: JsonOpt = False) -> None:
    """Documents, chunks, vectors, the embedding model and where the store lives."""
    output.show(runtime.context().rag.stats())


@app.command()
def verify(
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix what a crash left behind (run when idle).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Repair even when it would delete more than half of the store."
        ),
    ] = False,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Check that every document's chunks are in the vector store; exit 4 on problems.

    --repair deletes what cannot be healed, so it asks first (--yes without a terminal);
    --repair --dry-run lists each problem with the action a repair would take. A repair
    refuses (exit 4) to delete more than half of the vectors or documents: that is a lost
    database or store, which re-ingesting heals; --force repairs anyway.
    """
    if repair:
        output.confirm("repair the knowledge base (may delete records)", yes=yes, dry_run=dry_run)
    report = runtime.context().rag.verify(repair=repair, force=force, dry_run=dry_run)
    if runtime.state.json:
        output.show(report)
    else:
        output.show(
            {
                "ok": report.ok,
                "documents": report.documents,
                "vectors": report.vectors,
                "problems": len(report.problems),
            }
        )
        if report.problems:
            output.show(report.problems)
    if report.problems and not report.repaired:
        if not runtime.state.json and not dry_run:
            output.warn("run 'abby rag verify --repair' to fix these")
        raise typer.Exit(4)


@app.command()
def reindex(dry_run: DryRunOpt = False, yes: YesOpt = False, json_out: JsonOpt = False) -> None:
    """Re-embed every chunk with the configured embedding model (after changing it).

    --dry-run says how many chunks and documents it would re-embed, from which model to
    which, and changes nothing.
    """
    output.confirm("re-embed every chunk with the configured model", yes=yes, dry_run=dry_run)
    service = runtime.context().rag
    with output.progress("re-embedding", unit="chunks") as meter:
        result = service.reindex(progress=meter, dry_run=dry_run)
    output.show(result)


@app.command("eval")
def evaluate(
    file: Annotated[
        Path,
        typer.Argument(
            help='JSON lines: {"query": q, "expected": text} or {"query": q, "source": file}.'
        ),
    ],
    guild: GuildOpt = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="Results per query.")] = 5,
    per_document: PerDocumentOpt = None,
    passages: PassagesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Measure retrieval: recall@k, MRR and nDCG@k over questions with an expected source."""
    from core.rag.maintenance import read_eval_file

    cases = read_eval_file(file)
    report = runtime.context().rag.evaluate(
        cases, guild_id=guild, k=k, per_document=per_document, passages=passages
    )
    if runtime.state.json:
        output.show(report)
        return
    output.show(
        {
            "recall_at_k": report.recall_at_k,
            "mrr": report.mrr,
            "ndcg_at_k": report.ndcg_at_k,
            "k": report.k,
            "n": report.n,
        }
    )
    if report.misses:
        output.show(report.misses, title="Misses")
