"""`abby chat`: an interactive conversation with the persona, streamed to the terminal.

Each line is a question to the core's Assistant (core.llm.assistant), remembered in one
encrypted session like a member's in Discord; `/exit` (or the end of input) closes the
session with a summary the model writes, and prints it.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from abby_cli import output, runtime
from abby_cli.options import GuildOpt, JsonOpt

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
    import asyncio

    from core.llm.assistant import Answer

    context = runtime.context()
    assistant = context.assistant
    assistant.check_ready()  # no LLM: one line and exit 78 before the first prompt
    where = {"user_id": user, "guild_id": guild, "channel_id": channel}
    human = not runtime.state.json
    turns: list[dict[str, Any]] = []

    async def run():  # noqa: ANN202 - the Closed conversation, or None
        try:
            while True:
                if human and sys.stdin.isatty():
                    sys.stderr.write("you> ")
                    sys.stderr.flush()
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line or line.strip() == EXIT:
                    break
                question = line.strip()
                if not question:
                    continue
                answer = None
                async for item in assistant.stream(question, use_docs=rag, **where):
                    if isinstance(item, str):
                        if human:
                            sys.stdout.write(item)
                            sys.stdout.flush()
                    elif isinstance(item, Answer):
                        answer = item
                    elif human and item.greeting:  # an Opening: greet before the answer
                        sys.stdout.write(item.greeting + "\n")
                if human:
                    sys.stdout.write("\n")
                    for source in answer.sources:
                        sys.stdout.write(f"  source: {source.title}\n")
                    sys.stdout.flush()
                turns.append({"question": question, **answer.to_dict()})
            return await assistant.close(**where)
        finally:
            await context.llm.aclose()

    closed = asyncio.run(run())
    summary = closed.summary if closed else None
    if runtime.state.json:
        output.show(
            {
                "session_id": closed.session_id if closed else None,
                "turns": turns,
                "summary": summary,
            }
        )
    elif closed is not None:
        output.lines([f"summary: {summary or '(none)'}", closed.line])
