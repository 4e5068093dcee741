"""The conversation lookup: a member's live session in one channel, one indexed read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.clock import FrozenClock
from core.config import Settings
from core.context import AppContext
from core.sessions._sqlite import _ACTIVE
from tests.conftest import Backend
from tests.core.security_support import keyed_context

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
Frozen = tuple[AppContext, FrozenClock]  # the context and its clock


@pytest.fixture
def frozen(settings: Settings) -> Iterator[Frozen]:
    with keyed_context(settings, START) as pair:
        yield pair


def test_active_finds_the_live_session_of_that_member_guild_and_channel_only(
    frozen: Frozen,
) -> None:
    ctx, clock = frozen
    mine = ctx.sessions.create("u1", "c1", "g1")
    ctx.sessions.append_many(mine, [("user", "q1"), ("assistant", "a1"), ("user", "q2")])
    ctx.sessions.create("u1", "c2", "g1")
    ctx.sessions.create("u1", "c1", "g2")
    ctx.sessions.create("u1", "c1", None)
    ctx.sessions.create("u2", "c1", "g1")
    closed = ctx.sessions.create("u1", "c1", "g1")
    ctx.sessions.close(closed)
    found = ctx.sessions.active("u1", "c1", "g1", history=2)
    assert found is not None and found.session.session_id == mine
    assert [(m.seq, m.content) for m in found.messages] == [(2, "a1"), (3, "q2")]
    assert ctx.sessions.active("u1", "c1", "g1").messages == []
    assert ctx.sessions.active("u3", "c1", "g1") is None


def test_an_idle_session_is_not_found_and_the_lookup_expires_nothing(frozen: Frozen) -> None:
    ctx, clock = frozen
    sid = ctx.sessions.create("u1", "c1", "g1")
    clock.advance(31 * 60)
    assert ctx.sessions.active("u1", "c1", "g1", history=5) is None
    # No sweep on the read path: the record is still marked active until one runs.
    assert ctx.sessions._repo.get(sid).status == "active"


def test_a_new_session_opened_with_its_messages_is_one_write(frozen: Frozen) -> None:
    ctx, _ = frozen
    sid, new = ctx.sessions.record_exchange(
        None, "u1", "c1", "g1", [("user", "q"), ("assistant", "a")]
    )
    assert new
    record = ctx.sessions.require(sid)
    assert (record.turns, record.status) == (2, "active")
    same, new = ctx.sessions.record_exchange(
        sid, "u1", "c1", "g1", [("user", "q2"), ("assistant", "a2")]
    )
    assert same == sid and not new
    assert [m.seq for m in ctx.sessions.transcript(sid).messages] == [1, 2, 3, 4]


def test_the_sqlite_lookup_is_an_index_seek(frozen: Frozen, backend: Backend) -> None:
    if backend.name != "sqlite":
        pytest.skip("SQLite's query plan")
    ctx, _ = frozen
    ctx.sessions.create("u1", "c1", "g1")  # opens the store and its schema
    plan = (
        ctx.database.connection()
        .execute("EXPLAIN QUERY PLAN " + _ACTIVE, ("u1", "g1", "c1", "2026-01-01", 5))
        .fetchall()
    )
    details = " ".join(row[-1] for row in plan)
    assert "USING INDEX sessions_active" in details, details
    assert "SCAN sessions" not in details, details


def test_a_members_questions_are_counted_per_minute_and_scope(frozen: Frozen) -> None:
    ctx, clock = frozen
    assert [ctx.sessions.take_turn("u1", "g1", 2) for _ in range(3)] == [True, True, False]
    assert ctx.sessions.take_turn("u1", "g2", 2)  # another server counts apart
    assert ctx.sessions.take_turn("u2", "g1", 2)  # and so does another member
    clock.advance(60)
    assert [ctx.sessions.take_turn("u1", "g1", 2) for _ in range(3)] == [True, True, False]
    assert not ctx.sessions.take_turn("u3", None, 0)


def test_two_processes_asking_at_once_never_pass_the_limit_together(
    context: AppContext, backend: Backend
) -> None:
    """The limit is in the write's guard: 2 x 30 attempts in one minute admit exactly 25."""
    context.sessions._repo.get("none")  # opens the store and its schema before the workers
    code = (
        "from core.context import current\n"
        "from core.scope import Scope\n"
        "repo = current().sessions._repo\n"
        "won = sum(repo.take_turn('u1', Scope.of('g1'), '2026-01-01T12:00', 25) is not None"
        " for _ in range(30))\n"
        "print(won)\n"
    )
    from tests.core.security_support import spawn_python

    procs = [spawn_python(code, backend.env) for _ in range(2)]
    admitted = 0
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        admitted += int(out.strip().splitlines()[-1])
    assert admitted == 25
