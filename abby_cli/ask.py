"""`abby ask`: one question to the configured LLM, optionally grounded in the RAG documents.

It calls the core's Assistant (core.llm.assistant), as `abby chat` and the bot do; with
`--user` the question joins that member's conversation (stored encrypted, so a key is needed
first and nothing is asked of the model without one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from abby_cli import output, runtime
from abby_cli.options import GuildOpt, JsonOpt, UserOpt

if TYPE_CHECKING:
    from core.context import AppContext
    from core.llm.assistant import Answer


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

    from abby_cli import render

    context = runtime.context()
    where = {"user_id": user, "guild_id": guild, "channel_id": channel}
    asked = {**where, "use_docs": rag, "system_prompt": system, "top_k": top_k}
    streamed = stream and output.streams()
    answer = asyncio.run(_answer(context, prompt, asked, streamed=streamed))
    output.show(render.Reply(answer, context.settings.llm.model, user, streamed))


async def _answer(
    context: AppContext, prompt: str, asked: dict[str, Any], *, streamed: bool
) -> Answer:
    """The assistant's answer; with `streamed`, its text goes to stdout as it arrives."""
    from core.llm.assistant import Answer

    assistant = context.assistant
    try:
        if not streamed:
            return await assistant.answer(prompt, **asked)
        answer = None
        async for item in assistant.stream(prompt, **asked):
            if isinstance(item, str):
                output.write(item)
            elif isinstance(item, Answer):  # not the Opening of a new conversation
                answer = item
        output.write("\n")
        assert answer is not None  # a stream always ends with its Answer
        return answer
    finally:
        await context.llm.aclose()
