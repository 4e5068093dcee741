"""`abby ask`: one question to the configured LLM, optionally grounded in the RAG documents."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import GuildOpt, JsonOpt


def ask(
    prompt: Annotated[str, typer.Argument(help="The question or instruction.")],
    rag: Annotated[
        bool, typer.Option("--rag", help="Add the best matching document chunks as context.")
    ] = False,
    guild: GuildOpt = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=20, help="Chunks for --rag.")] = 4,
    system: Annotated[
        str | None, typer.Option("--system", help="System prompt (default: the persona's).")
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Print as it arrives.")
    ] = True,
    json_out: JsonOpt = False,
) -> None:
    """Ask the LLM; with --rag, answer from the ingested documents of the guild."""
    import asyncio

    from core.llm.answer import build_prompt
    from core.persona import load_persona

    context = runtime.context()
    settings = context.settings
    results = []
    if rag:
        results = context.rag.query(prompt, guild_id=guild, top_k=top_k)
    full_prompt = build_prompt(prompt, results)
    system_prompt = system or load_persona(settings.persona.name, settings.data_dir).system_prompt
    client = context.llm
    sources = [{"title": r.title, "source": r.source, "score": r.score} for r in results]

    async def run() -> str:
        try:
            if stream and not runtime.state.json:
                pieces = []
                async for piece in client.stream_generate(full_prompt, system_prompt=system_prompt):
                    pieces.append(piece)
                    sys.stdout.write(piece)
                    sys.stdout.flush()
                sys.stdout.write("\n")
                return "".join(pieces)
            return await client.generate(full_prompt, system_prompt=system_prompt)
        finally:
            await client.aclose()

    reply = asyncio.run(run())
    if runtime.state.json:
        output.show({"reply": reply, "model": settings.llm.model, "sources": sources})
    elif not stream:
        output.lines([reply])
    if sources and not runtime.state.json:
        output.lines(f"  source: {s['title'] or s['source']} ({s['score']:.2f})" for s in sources)
