"""`abby rag`: the knowledge base — ingest folders, query them, keep them consistent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abby_cli import options, output, runtime
from abby_cli.options import DryRunOpt, GuildOpt, JsonOpt, UserOpt, YesOpt

app = typer.Typer(
    help="The knowledge base: ingest documents, search them, keep the index consistent.",
    no_args_is_help=True,
)

PerDocumentOpt = Annotated[
    int | None,
    typer.Option(
        "--per-document", min=1, max=100, help="At most N passages of one document (default 1)."
    ),
]
PassagesOpt = Annotated[
    bool, typer.Option("--passages", help="Rank raw passages, several of one document allowed.")
]


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
    output.show(report)


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
    from abby_cli import render

    results = runtime.context().rag.query(
        text,
        guild_id=guild,
        top_k=top_k,
        min_score=min_score,
        per_document=per_document,
        passages=passages,
    )
    output.show(render.Hits(results, full=full))


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
    scope = options.scope_option(None if all_guilds else guild, every=all_guilds)
    output.show(runtime.context().rag.list(scope, user_id=user), kind="list[DocumentRecord]")


@app.command()
def delete(
    doc_id: Annotated[str, typer.Argument(help="The document id (see 'abby rag list').")],
    guild: GuildOpt = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete a document and its chunks (with --guild, only that guild's own documents)."""
    from abby_cli import render

    service = runtime.context().rag
    record = service.get(doc_id, guild_id=guild)
    output.confirm(
        f"delete {record.title!r} ({record.chunk_count} chunks)", yes=yes, dry_run=dry_run
    )
    if not dry_run:
        service.delete(doc_id, guild_id=guild)
    output.show(render.Deletion(record, dry_run))


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
    output.show(report)


@app.command()
def reindex(dry_run: DryRunOpt = False, yes: YesOpt = False, json_out: JsonOpt = False) -> None:
    """Re-embed every chunk with the configured embedding model (after changing it).

    --dry-run says how many chunks and documents it would re-embed, from which model to
    which, and changes nothing.
    """
    output.confirm("re-embed every chunk with the configured model", yes=yes, dry_run=dry_run)
    with output.progress("re-embedding", unit="chunks") as meter:
        result = runtime.context().rag.reindex(progress=meter, dry_run=dry_run)
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
    output.show(report)
