"""Benchmark the Assistant's own cost per answer, over the bare model call.

Against the OpenAI-compatible test server on 127.0.0.1 with a fixed delay (the model's time),
it times, in one process and one event loop:
- the bare model call: `LLMClient.generate` with the same prompt;
- `Assistant.answer` for one member's running conversation (key check, the session lookup,
  prompt, model call, the one write of question and answer), and with retrieval (`use_docs`,
  the local embedding model over a small ingested corpus);
and reports the p50/p95 overhead (answer minus bare call, ms), the database statements per
answer on SQLite (sqlite3's trace callback) and MongoDB commands per answer (pymongo's
command listener, against the tests' mongoeco stand-in unless --mongo-uri names a server).
and, through the real `abby bot run` against the Discord stand-in, the seconds from the
model's first streamed token to the first edit of the member's message (also asserted,
<= 1.1 s, by tests/bot/test_chat_e2e.py).

    python scripts/bench_ask.py [--answers 60] [--delay 0.05] [--mongo-uri URI | --no-mongo]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from core.context import AppContext  # noqa: E402
from tests.support.openai_server import ChatServer  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def _measure(context: AppContext, answers: int, use_docs: bool) -> dict[str, Any]:
    assistant = context.assistant
    client = context.llm
    bare, full = [], []
    where = {"user_id": "bench", "guild_id": "g1", "channel_id": f"c{int(use_docs)}"}
    await assistant.answer("warm up", use_docs=use_docs, **where)
    for n in range(answers):
        question = f"question {n} about mixing vocals"
        # The same prompt as the assistant sends, so the difference is the assistant's work.
        began = time.perf_counter()
        await client.generate(question, system_prompt="You are Abby.")
        bare.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        await assistant.answer(question, use_docs=use_docs, **where)
        full.append((time.perf_counter() - began) * 1000)
    overhead = [f - b for f, b in zip(full, bare, strict=True)]
    return {
        "bare_p50_ms": _percentile(bare, 0.5),
        "answer_p50_ms": _percentile(full, 0.5),
        "overhead_p50_ms": round(statistics.median(overhead), 2),
        "overhead_p95_ms": _percentile(overhead, 0.95),
    }


def _sqlite_statements(context: AppContext) -> int:
    statements: list[str] = []
    assistant = context.assistant

    async def run() -> None:
        def traced(function, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            context.database.connection().set_trace_callback(statements.append)
            try:
                return function(*args, **kwargs)
            finally:
                context.database.connection().set_trace_callback(None)

        offload = assistant._offload
        assistant._offload = lambda f, *a, **k: asyncio.to_thread(traced, f, *a, **k)
        try:
            await assistant.answer("count me", user_id="bench", guild_id="g1", channel_id="c9")
            statements.clear()
            where = {"user_id": "bench", "guild_id": "g1", "channel_id": "c9"}
            await assistant.answer("count me again", **where)
        finally:
            assistant._offload = offload
            await context.llm.aclose()

    asyncio.run(run())
    return len(statements)


def _mongo_statements(settings_env: dict[str, str]) -> dict[str, int]:
    from pymongo import monitoring

    commands: list[str] = []

    class Listener(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            if event.command_name not in ("hello", "isMaster", "ping", "endSessions"):
                commands.append(event.command_name)

        def succeeded(self, event: object) -> None: ...

        def failed(self, event: object) -> None: ...

    monitoring.register(Listener())
    context = AppContext(load_settings(environ=settings_env))
    try:
        context.keys.generate(write=True)

        async def run() -> dict[str, int]:
            try:
                where = {"user_id": "bench", "guild_id": "g1", "channel_id": "m1"}
                await context.assistant.answer("warm", user_id="other", channel_id="m0")
                commands.clear()
                await context.assistant.answer("first", **where)
                new = len(commands)
                commands.clear()
                await context.assistant.answer("second", **where)
                return {"new_conversation": new, "continuing": len(commands)}
            finally:
                await context.llm.aclose()

        return asyncio.run(run())
    finally:
        context.database.client.drop_database(context.settings.database.name)
        context.close()


def _first_token_to_discord(tmp: Path, samples: int) -> dict[str, Any]:
    """Through the real `abby bot run` and the Discord stand-in: seconds from the model's
    first streamed token to the first edit of the member's /ask message."""
    from tests.support.bot_process import BotProcess
    from tests.support.discord_standin import DiscordStandIn

    reply = " ".join(f"word{n}" for n in range(20))
    with ChatServer(reply=reply, token_delay=0.05) as server:
        env = {
            "ABBY_DATA_DIR": str(tmp / "bot-data"),
            "ABBY_LLM__PROVIDER": "openai",
            "ABBY_LLM__BASE_URL": server.base_url,
            "ABBY_LLM__API_KEY": "sk-bench",
            "ABBY_CHAT__RATE_LIMIT_PER_MINUTE": "0",
        }
        context = AppContext(load_settings(environ=env))
        try:
            context.keys.generate(write=True)
        finally:
            context.close()
        gaps = []
        with DiscordStandIn() as standin, BotProcess(standin, env) as bot:
            bot.wait_ready()
            for n in range(samples):
                options = {"question": f"stream {n}", "use_docs": False}
                # Each in its own channel: Discord's edit limit is per channel, and answers
                # streaming in one channel at once share it.
                channel = standin.channel_ids[n % len(standin.channel_ids)]
                interaction = standin.interact("ask", options, user=5000 + n, channel=channel)
                interaction.wait_reply(30)
                message = interaction.original
                standin.wait_for(
                    lambda m=message: standin.sent_message(m)["content"].endswith("word19"),
                    30,
                    "the whole answer",
                )
                gaps.append(standin.edits(message)[0][0] - server.first_token_at[-1])
            bot.stop()
    return {
        "samples": samples,
        "first_token_to_first_edit_p50_s": round(statistics.median(gaps), 3),
        "first_token_to_first_edit_max_s": round(max(gaps), 3),
    }


@contextlib.contextmanager
def _mongo(uri: str | None, tmp: Path) -> Iterator[str]:
    """The given MongoDB, else the tests' mongoeco wire stand-in in its own process."""
    if uri:
        yield uri
        return
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mongo_server", "--db", str(tmp / "wire.sqlite")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=60)
    parser.add_argument("--delay", type=float, default=0.05, help="the model's fixed delay, s")
    parser.add_argument("--mongo-uri", default=None, help="count commands on this MongoDB")
    parser.add_argument(
        "--no-mongo", action="store_true", help="skip MongoDB (default: the mongoeco stand-in)"
    )
    parser.add_argument("--discord-samples", type=int, default=8, help="0 skips the bot run")
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "ask", "answers": args.answers, "model_delay_s": args.delay}
    with ChatServer(delay=args.delay) as server, tempfile.TemporaryDirectory() as tmp:
        env = {
            "ABBY_DATA_DIR": str(Path(tmp) / "data"),
            "ABBY_LLM__PROVIDER": "openai",
            "ABBY_LLM__BASE_URL": server.base_url,
            "ABBY_LLM__API_KEY": "sk-bench",
            "ABBY_TELEMETRY__ENABLED": "false",
        }
        context = AppContext(load_settings(environ=env))
        try:
            context.keys.generate(write=True)
            for n in range(8):
                words = " ".join(f"vocals{n} mixing compressor reverb level{w}" for w in range(60))
                context.rag.ingest_text(f"doc{n}.md", f"Handbook {n}", words, guild_id="g1")

            async def run() -> dict[str, Any]:
                try:
                    return {
                        "conversation": await _measure(context, args.answers, False),
                        "with_docs": await _measure(context, args.answers, True),
                    }
                finally:
                    await context.llm.aclose()

            result.update(asyncio.run(run()))
            result["sqlite_statements_per_answer"] = _sqlite_statements(context)
        finally:
            context.close()
        if not args.no_mongo:
            with _mongo(args.mongo_uri, Path(tmp)) as uri:
                mongo_env = {
                    **env,
                    "ABBY_DATA_DIR": str(Path(tmp) / "mongo-data"),
                    "ABBY_DATABASE__URI": uri,
                    "ABBY_DATABASE__NAME": "bench_ask",
                }
                result["mongo_commands_per_answer"] = _mongo_statements(mongo_env)
        if args.discord_samples:
            result["discord"] = _first_token_to_discord(Path(tmp), args.discord_samples)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
