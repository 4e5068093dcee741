"""The sessions contract: every behaviour holds on SQLite and on MongoDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from core import database as seed_db
from core import sessions as seed_sessions
from core.clock import FrozenClock
from core.config import Settings
from core.context import AppContext
from core.errors import InvalidInput, MissingKey, SessionClosed, UnknownSession
from core.scope import Scope
from tests.conftest import Backend
from tests.core.security_support import add_key, keyed_context, run_python

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
Frozen = tuple[AppContext, FrozenClock]  # the context and its clock


@pytest.fixture
def frozen(settings: Settings) -> Iterator[Frozen]:
    """A context on a FrozenClock with a key configured."""
    with keyed_context(settings, START) as pair:
        yield pair


def test_appended_messages_come_back_in_order_and_only_ciphertext_is_stored(frozen: Frozen) -> None:
    ctx, _ = frozen
    sid = ctx.sessions.create("u1", "c1", "g1")
    assert ctx.sessions.append(sid, "user", "secret hello") == 1
    assert ctx.sessions.append_many(sid, [("assistant", "hi"), ("user", "émoji ✓")]) == 3
    stored = ctx.sessions._repo.messages(sid)
    assert [m.seq for m in stored] == [1, 2, 3]
    assert all("hello" not in m.token and m.token.startswith("gAAAAA") for m in stored)
    assert {m.key_id for m in stored} == {ctx.keys.ring().primary_id}
    transcript = ctx.sessions.transcript(sid)
    assert [(m.role, m.content) for m in transcript.messages] == [
        ("user", "secret hello"),
        ("assistant", "hi"),
        ("user", "émoji ✓"),
    ]
    record = ctx.sessions.require(sid)
    assert (record.user_id, record.guild_id, record.channel_id) == ("u1", "g1", "c1")
    assert (record.status, record.turns, record.has_summary) == ("active", 3, False)


def test_close_encrypts_the_summary_and_refuses_further_messages(frozen: Frozen) -> None:
    ctx, clock = frozen
    sid = ctx.sessions.create("u1", "c1", None)
    ctx.sessions.append(sid, "user", "q")
    clock.advance(60)
    record = ctx.sessions.close(sid, "a private summary")
    assert record.status == "closed" and record.closed_at == START + timedelta(seconds=60)
    assert record.has_summary and record.guild_id is None
    token, key_id = ctx.sessions._repo.summary(sid)
    assert "private" not in token and key_id == ctx.keys.ring().primary_id
    assert ctx.sessions.transcript(sid).summary == "a private summary"
    with pytest.raises(SessionClosed, match="closed"):
        ctx.sessions.append(sid, "user", "late")
    with pytest.raises(SessionClosed, match="already closed"):
        ctx.sessions.close(sid, "again")
    assert ctx.sessions.require(sid).turns == 1


def test_an_idle_session_expires_and_takes_no_more_messages(frozen: Frozen) -> None:
    ctx, clock = frozen
    idle = ctx.settings.sessions.idle_minutes
    sid = ctx.sessions.create("u1", "c1", "g1")
    ctx.sessions.append(sid, "user", "one")
    clock.advance(idle * 60 - 1)
    ctx.sessions.append(sid, "user", "two")  # still active: the idle clock restarted
    clock.advance(idle * 60 + 1)
    with pytest.raises(SessionClosed, match="expired"):
        ctx.sessions.append(sid, "user", "three")
    record = ctx.sessions.require(sid)
    assert (record.status, record.turns) == ("expired", 2)
    # An expired session can still be closed with a summary.
    assert ctx.sessions.close(sid, "wrap-up").status == "closed"


def test_listing_sweeps_idle_sessions_and_filters_by_user_guild_and_status(frozen: Frozen) -> None:
    ctx, clock = frozen
    old = ctx.sessions.create("u1", "c1", "g1")
    clock.advance(ctx.settings.sessions.idle_minutes * 60 + 5)
    fresh = ctx.sessions.create("u2", "c1", "g2")
    glob = ctx.sessions.create("u1", "c9", None)
    rows = ctx.sessions.list()
    assert [r.session_id for r in rows][0] in {fresh, glob}
    assert {r.session_id: r.status for r in rows} == {
        old: "expired",
        fresh: "active",
        glob: "active",
    }
    assert [r.session_id for r in ctx.sessions.list(user_id="u1", scope=Scope.of("g1"))] == [old]
    assert [r.session_id for r in ctx.sessions.list(scope=Scope.GLOBAL)] == [glob]
    assert {r.session_id for r in ctx.sessions.list(status="active")} == {fresh, glob}
    assert len(ctx.sessions.list(limit=1)) == 1
    with pytest.raises(InvalidInput, match="status"):
        ctx.sessions.list(status="open")


def test_purge_deletes_only_sessions_that_ended_before_the_cutoff(frozen: Frozen) -> None:
    ctx, clock = frozen
    ended = ctx.sessions.create("u1", "c1", "g1")
    ctx.sessions.append_many(ended, [("user", "a"), ("assistant", "b")])
    ctx.sessions.close(ended, "s")
    clock.advance(40 * 86400)
    recent = ctx.sessions.create("u1", "c1", "g1")
    ctx.sessions.append(recent, "user", "c")
    ctx.sessions.close(recent)
    active = ctx.sessions.create("u2", "c1", "g1")
    ctx.sessions.append(active, "user", "d")
    preview = ctx.sessions.purge(timedelta(days=30), dry_run=True)
    assert (preview.sessions, preview.messages) == (1, 2)
    assert ctx.sessions.require(ended).status == "closed"
    report = ctx.sessions.purge(timedelta(days=30))
    assert (report.sessions, report.messages) == (1, 2)
    with pytest.raises(UnknownSession):
        ctx.sessions.require(ended)
    assert ctx.sessions._repo.messages(ended) == []
    assert ctx.sessions.require(recent).status == "closed"
    assert len(ctx.sessions._repo.messages(active)) == 1
    # The default cutoff is sessions.retention_days (30): nothing else is that old.
    assert ctx.sessions.purge().sessions == 0


def test_unknown_session_and_bad_input_are_refused_without_writing(frozen: Frozen) -> None:
    ctx, _ = frozen
    sid = ctx.sessions.create("u1", "c1", "g1")
    with pytest.raises(UnknownSession):
        ctx.sessions.append("0" * 32, "user", "x")
    with pytest.raises(InvalidInput, match="session id"):
        ctx.sessions.append("../etc", "user", "x")
    with pytest.raises(InvalidInput, match="role"):
        ctx.sessions.append(sid, "robot", "x")
    with pytest.raises(InvalidInput, match="UTF-8"):
        ctx.sessions.append(sid, "user", b"\xff\xfe bad")
    with pytest.raises(InvalidInput, match="user id"):
        ctx.sessions.create("a b", "c1", "g1")
    assert ctx.sessions.require(sid).turns == 0
    assert ctx.sessions._repo.messages(sid) == []


def test_without_a_key_sessions_cannot_start_and_nothing_is_stored(context: AppContext) -> None:
    with pytest.raises(MissingKey, match="abby keys generate"):
        context.sessions.create("u1", "c1", "g1")
    assert context.sessions.list() == []


def test_seed_functions_work_from_core_sessions_and_core_db(frozen: Frozen) -> None:
    ctx, _ = frozen
    sid = seed_sessions.create_session("u1", "c1", "g1")
    seed_sessions.append_session_message(sid, "user", "hello")
    seed_db.append_session_message(sid, "assistant", "hi")
    closed = seed_db.close_session(sid, "greeting")
    assert closed["session_id"] == sid and closed["status"] == "closed"
    assert closed["turns"] == 2 and "summary" not in closed
    other = seed_db.create_session("u2", "c2", None)
    assert isinstance(other, str) and other != sid


@pytest.mark.slow
def test_two_processes_appending_to_one_session_lose_nothing(
    context: AppContext, backend: Backend
) -> None:
    ctx = context  # real clock: the worker processes use one too
    add_key(ctx)
    sid = ctx.sessions.create("u1", "c1", "g1")
    per_process = 80 if backend.name == "mongo" else 300
    code = (
        "import sys; from core.sessions import append_session_message as a\n"
        f"for i in range({per_process}): a({sid!r}, 'user', f'{{sys.argv[1]}}-{{i}}')\n"
    )
    from tests.core.security_support import spawn_python

    procs = [
        # Double quotes inside the generated f'...': Python 3.11 refuses nested same quotes.
        spawn_python(code.replace("sys.argv[1]", f'"{tag}"'), backend.env)
        for tag in ("p", "q")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    transcript = ctx.sessions.transcript(sid)
    assert [m.seq for m in transcript.messages] == list(range(1, 2 * per_process + 1))
    contents = {m.content for m in transcript.messages}
    expected = {f"{t}-{i}" for t in ("p", "q") for i in range(per_process)}
    assert contents == expected
    assert ctx.sessions.require(sid).turns == 2 * per_process


def test_seed_functions_work_in_a_fresh_process_with_only_the_data_dir(
    context: AppContext, backend: Backend
) -> None:
    add_key(context)
    code = (
        "from core.sessions import create_session, append_session_message, close_session\n"
        "s = create_session('u1', 'c1', 'g1'); append_session_message(s, 'user', 'hi')\n"
        "print(close_session(s, 'done')['turns'])\n"
    )
    result = run_python(code, backend.env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
