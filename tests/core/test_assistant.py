"""The Assistant on both backends, against a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.config import Settings
from core.context import AppContext
from core.errors import ConfigError, InvalidInput, MissingKey
from core.llm.assistant import Answer, Opening
from tests.core.security_support import keyed_context
from tests.support.openai_server import ChatServer

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GUILD = "g1"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


@pytest.fixture
def llm_settings(backend, server: ChatServer) -> Settings:  # noqa: ANN001
    return backend.settings(
        llm={"provider": "openai", "base_url": server.base_url, "api_key": "sk-assist-1"}
    )


Pair = tuple[AppContext, object]  # a keyed context and its clock


@pytest.fixture
def ctx(llm_settings: Settings) -> Iterator[Pair]:
    with keyed_context(llm_settings, START) as pair:
        yield pair


def _ask(context: AppContext, question: str, **kwargs: object) -> Answer:
    async def run() -> Answer:
        try:
            return await context.assistant.answer(question, **kwargs)
        finally:
            await context.llm.aclose()

    return asyncio.run(run())


def _stream(context: AppContext, question: str, **kwargs: object) -> list[object]:
    async def run() -> list[object]:
        try:
            return [item async for item in context.assistant.stream(question, **kwargs)]
        finally:
            await context.llm.aclose()

    return asyncio.run(run())


def test_answers_remember_the_conversation_in_one_session(ctx: Pair, server: ChatServer) -> None:
    context, _ = ctx
    where = {"user_id": "u1", "guild_id": GUILD, "channel_id": "c1"}
    first = _ask(context, "what is XP?", user_name="Sam", **where)
    assert first.reply == "echo: what is XP?" and first.new_conversation
    assert first.greeting is not None and "Sam" in first.greeting
    second = _ask(context, "and levels?", user_name="Sam", **where)
    assert second.session_id == first.session_id and not second.new_conversation
    assert second.greeting is None
    sent = [m["content"] for m in server.requests[-1]["body"]["messages"][1:]]
    assert sent == ["what is XP?", "echo: what is XP?", "and levels?"]
    transcript = context.sessions.transcript(first.session_id)
    assert [(m.seq, m.role) for m in transcript.messages] == [
        (1, "user"),
        (2, "assistant"),
        (3, "user"),
        (4, "assistant"),
    ]


def test_members_guilds_and_channels_each_have_their_own_conversation(ctx, server) -> None:  # noqa: ANN001
    context, _ = ctx
    a = _ask(context, "secret plan", user_id="u1", guild_id=GUILD, channel_id="c1")
    b = _ask(context, "hello", user_id="u2", guild_id=GUILD, channel_id="c1")
    c = _ask(context, "other channel", user_id="u1", guild_id=GUILD, channel_id="c2")
    d = _ask(context, "global", user_id="u1", guild_id=None, channel_id="c1")
    assert len({a.session_id, b.session_id, c.session_id, d.session_id}) == 4
    assert [m["content"] for m in server.requests[-1]["body"]["messages"][1:]] == ["global"]


def test_without_a_key_nothing_is_asked_of_the_model(llm_settings, server) -> None:  # noqa: ANN001
    context = AppContext(llm_settings)
    try:
        with pytest.raises(MissingKey):
            _ask(context, "hello", user_id="u1", guild_id=GUILD, channel_id="c1")
        with pytest.raises(MissingKey):
            _stream(context, "hello", user_id="u1", guild_id=GUILD, channel_id="c1")
        assert server.requests == []
        # A one-off question with no member keeps nothing, so it needs no key.
        assert _ask(context, "hello").reply == "echo: hello"
        assert len(server.requests) == 1
    finally:
        if llm_settings.database.uri is not None and "database" in context.__dict__:
            context.database.client.drop_database(llm_settings.database.name)
        context.close()


def test_without_an_llm_it_is_a_config_error_before_anything(backend, server) -> None:  # noqa: ANN001
    with keyed_context(backend.settings(), START) as (context, _):
        with pytest.raises(ConfigError, match="no LLM configured"):
            _ask(context, "hello", user_id="u1", channel_id="c1")
        assert context.sessions.list() == []
    assert server.requests == []


@pytest.mark.parametrize("question", ["", "   ", "x" * 4001])
def test_a_bad_question_is_refused_before_the_model(ctx, server, question: str) -> None:  # noqa: ANN001
    context, _ = ctx
    with pytest.raises(InvalidInput):
        _ask(context, question, user_id="u1", channel_id="c1")
    assert server.requests == []


def test_a_failed_model_call_stores_nothing(ctx: Pair, server: ChatServer) -> None:
    context, _ = ctx
    server.failures.extend([(500, {"error": {"message": "down", "code": None}})] * 3)
    with pytest.raises(Exception, match="retry later"):
        _ask(context, "hello", user_id="u1", channel_id="c1")
    assert context.sessions.list() == []


def test_stream_yields_deltas_then_the_answer_with_its_session(ctx, server) -> None:  # noqa: ANN001
    context, _ = ctx
    items = _stream(context, "one two three", user_id="u1", guild_id=GUILD, channel_id="c1")
    opening, *deltas, final = items
    assert opening == Opening(None)  # a new conversation, no member name: no greeting
    assert all(isinstance(d, str) for d in deltas) and len(deltas) == 4
    assert isinstance(final, Answer) and final.reply == "".join(deltas)
    assert server.requests[0]["body"]["stream"] is True
    found = context.sessions.active("u1", "c1", GUILD, history=10)
    assert found is not None and found.session.session_id == final.session_id
    assert [m.content for m in found.messages] == ["one two three", final.reply]


def test_an_idle_conversation_is_not_continued(ctx, server) -> None:  # noqa: ANN001
    context, clock = ctx
    first = _ask(context, "hello", user_id="u1", channel_id="c1")
    clock.advance(31 * 60)  # sessions.idle_minutes is 30
    second = _ask(context, "again", user_id="u1", channel_id="c1")
    assert second.session_id != first.session_id and second.new_conversation
    assert [m["content"] for m in server.requests[-1]["body"]["messages"][1:]] == ["again"]


def test_a_conversation_closed_meanwhile_gets_a_new_session(ctx, server) -> None:  # noqa: ANN001
    context, _ = ctx
    first = _ask(context, "hello", user_id="u1", channel_id="c1")
    assistant = context.assistant
    turn = assistant._prepare("again", user_id="u1", channel_id="c1")
    context.sessions.close(first.session_id)  # e.g. `abby session close` while the model ran
    answer = assistant._finish(turn, "reply")
    assert answer.session_id != first.session_id and answer.new_conversation
    assert [m.content for m in context.sessions.transcript(answer.session_id).messages] == [
        "again",
        "reply",
    ]


def test_dismiss_closes_the_live_conversation_with_the_persona_line(ctx, server) -> None:  # noqa: ANN001
    context, _ = ctx
    first = _ask(context, "hello", user_id="u1", channel_id="c1")
    assert context.assistant.dismiss(user_id="u2", channel_id="c1") is None
    closed = context.assistant.dismiss(user_id="u1", channel_id="c1")
    assert closed is not None and closed.session_id == first.session_id
    assert closed.line in {"See you around! 😊", "Talk soon! 😊", "Take care! 😊"}
    assert context.sessions.require(first.session_id).status == "closed"
    assert context.assistant.dismiss(user_id="u1", channel_id="c1") is None


def test_close_asks_the_model_for_a_summary_and_keeps_it_encrypted(ctx, server) -> None:  # noqa: ANN001
    context, _ = ctx
    first = _ask(context, "hello", user_id="u1", channel_id="c1")
    server.reply = "You said hello."

    async def run():  # noqa: ANN202
        try:
            return await context.assistant.close(user_id="u1", channel_id="c1")
        finally:
            await context.llm.aclose()

    closed = asyncio.run(run())
    assert closed.summary == "You said hello."
    assert context.sessions.transcript(first.session_id).summary == "You said hello."
    summary_request = server.requests[-1]["body"]["messages"]
    assert "Summarise" in summary_request[0]["content"]
    assert "user: hello" in summary_request[-1]["content"]


def test_an_answer_takes_at_most_five_statements_on_sqlite(backend, server) -> None:  # noqa: ANN001
    if backend.name != "sqlite":
        pytest.skip("statement counting via sqlite3's trace callback (Mongo: scripts/bench_ask.py)")
    settings = backend.settings(llm={"provider": "openai", "base_url": server.base_url})
    with keyed_context(settings, START) as (context, _):
        statements: list[str] = []
        assistant = context.assistant

        async def run() -> None:
            loop_conn: list[sqlite3.Connection] = []

            def traced(function, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                conn = context.database.connection()
                if conn not in loop_conn:
                    conn.set_trace_callback(statements.append)
                    loop_conn.append(conn)
                return function(*args, **kwargs)

            assistant._offload = lambda f, *a, **k: asyncio.to_thread(traced, f, *a, **k)
            try:
                for n in range(3):
                    statements.clear()
                    await assistant.answer(f"q{n}", user_id="u1", guild_id=GUILD, channel_id="c1")
                    assert 3 <= len(statements) <= 5, statements
            finally:
                await context.llm.aclose()

        asyncio.run(run())


def test_stream_says_a_conversation_opens_before_the_first_token_with_its_greeting(
    ctx: Pair,
    server,  # noqa: ANN001
) -> None:
    context, _ = ctx
    where = {"user_id": "u1", "guild_id": GUILD, "channel_id": "c1", "user_name": "Sam"}
    opening, first_delta, *_rest, final = _stream(context, "one two", **where)
    assert isinstance(opening, Opening) and "Sam" in opening.greeting
    assert isinstance(first_delta, str)
    assert isinstance(final, Answer) and final.new_conversation
    assert final.greeting == opening.greeting  # chosen once: the stream and the end agree
    again = _stream(context, "three", **where)
    assert not any(isinstance(item, Opening) for item in again)  # continued: no opening
    assert isinstance(again[-1], Answer) and again[-1].greeting is None
    assert not any(isinstance(item, Opening) for item in _stream(context, "no member"))
