"""`abby ask`: one question to the configured LLM, optionally grounded in the RAG documents.

It calls the core's Assistant (core.llm.assistant), as `abby chat` and the bot do; with
`--user` the question joins that member's conversation (stored encrypted, so a key is needed
first and nothing is asked of the model without one).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import GuildOpt, JsonOpt, UserOpt


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
    user: UserOpt = None,
    channel: Annotated[
        str, typer.Option("--channel", help="With --user: the conversation's channel id.")
    ] = "cli",
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Print as it arrives.")
    ] = True,
    json_out: JsonOpt = False,
) -> None:
    """Ask the LLM; with --rag, answer from the ingested documents of the guild."""
    import asyncio

    from core.llm.assistant import Answer

    context = runtime.context()
    assistant = context.assistant
    options = {
        "user_id": user,
        "guild_id": guild,
        "channel_id": channel,
        "use_docs": rag,
        "system_prompt": system,
        "top_k": top_k,
    }

    async def run():  # noqa: ANN202 - an Answer
        try:
            if not stream or runtime.state.json:
                return await assistant.answer(prompt, **options)
            answer = None
            async for item in assistant.stream(prompt, **options):
                if isinstance(item, str):
                    sys.stdout.write(item)
                    sys.stdout.flush()
                elif isinstance(item, Answer):  # not the Opening of a new conversation
                    answer = item
            sys.stdout.write("\n")
            return answer
        finally:
            await context.llm.aclose()

    answer = asyncio.run(run())
    sources = [s.to_dict() for s in answer.sources]
    if runtime.state.json:
        document = {"reply": answer.reply, "model": context.settings.llm.model, "sources": sources}
        if user is not None:
            document["session_id"] = answer.session_id
        output.show(document)
        return
    if not stream:
        output.lines([answer.reply])
    output.lines(f"  source: {s['title'] or s['source']} ({s['score']:.2f})" for s in sources)
