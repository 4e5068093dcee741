"""`abby chat`: an interactive conversation with the persona, streamed to the terminal.

Each line is a question to the core's Assistant (core.llm.assistant), remembered in one
encrypted session like a member's in Discord; `/exit` (or the end of input) closes the
session with a summary the model writes, and prints it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from abby_cli import output, runtime
from abby_cli.options import GuildOpt, JsonOpt

if TYPE_CHECKING:
    from core.context import AppContext
    from core.llm.assistant import Assistant, Closed

EXIT = "/exit"


def chat(
    user: Annotated[
        str, typer.Option("--user", "-u", help="Whose conversation (a member's id).")
    ] = "cli",
    guild: GuildOpt = None,
    channel: Annotated[str, typer.Option("--channel", help="The conversation's channel.")] = "cli",
    rag: Annotated[
        bool, typer.Option("--rag", help="Ground answers in the guild's documents.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Talk with the persona; /exit closes the conversation and prints its summary."""
    import asyncio  # here, not at the top: `abby --help` must not pay for it

    from abby_cli import render

    context = runtime.context()
    context.assistant.check_ready()  # no LLM: one line and exit 78 before the first prompt
    where = {"user_id": user, "guild_id": guild, "channel_id": channel}
    turns: list[dict[str, Any]] = []
    closed = asyncio.run(_converse(context, where, turns, rag=rag, human=output.streams()))
    output.show(render.Conversation(turns, closed))


async def _converse(
    context: AppContext,
    where: dict[str, Any],
    turns: list[dict[str, Any]],
    *,
    rag: bool,
    human: bool,
) -> Closed | None:
    """Answer each line of stdin until /exit or its end, then close the conversation."""
    import asyncio

    assistant = context.assistant
    try:
        while True:
            if human and sys.stdin.isatty():
                sys.stderr.write("you> ")
                sys.stderr.flush()
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line or line.strip() == EXIT:
                break
            question = line.strip()
            if question:
                turns.append(await _turn(assistant, question, where, rag=rag, human=human))
        return await assistant.close(**where)
    finally:
        await context.llm.aclose()


async def _turn(
    assistant: Assistant, question: str, where: dict[str, Any], *, rag: bool, human: bool
) -> dict[str, Any]:
    """One question streamed (to people), with its sources; the turn as --json records it."""
    from core.llm.assistant import Answer

    answer = None
    async for item in assistant.stream(question, use_docs=rag, **where):
        if isinstance(item, str):
            if human:
                output.write(item)
        elif isinstance(item, Answer):
            answer = item
        elif human and item.greeting:  # an Opening: greet before the answer
            output.write(item.greeting + "\n")
    assert answer is not None  # a stream always ends with its Answer
    if human:
        output.write("\n" + "".join(f"  source: {s.title}\n" for s in answer.sources))
    return {"question": question, **answer.to_dict()}
