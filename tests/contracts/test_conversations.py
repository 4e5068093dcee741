"""Conversations on top of encrypted sessions, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.clock import FrozenClock
from core.config import Settings
from core.context import AppContext
from tests.core.security_support import keyed_context

START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
Frozen = tuple[AppContext, FrozenClock]  # the context and its clock


@pytest.fixture
def frozen(settings: Settings) -> Iterator[Frozen]:
    """A context on a FrozenClock with a key configured."""
    with keyed_context(settings, START) as pair:
        yield pair


def test_a_conversation_keeps_the_last_messages_in_order(frozen: Frozen) -> None:
    ctx, _ = frozen
    talk = ctx.conversations
    assert talk.get_conversation("u1") == []
    for index in range(6):
        talk.append_message("u1", "user", f"question {index}")
        talk.append_message("u1", "assistant", f"answer {index}")
    history = talk.get_conversation("u1", 4)
    assert history == [
        {"role": "user", "content": "question 4"},
        {"role": "assistant", "content": "answer 4"},
        {"role": "user", "content": "question 5"},
        {"role": "assistant", "content": "answer 5"},
    ]
    # One session, encrypted like any other; reading history is not an operator dump.
    [session] = ctx.sessions.list(user_id="u1")
    assert session.turns == 12
    assert not [e for e in ctx.events.tail(50) if e["type"] == "governance.sessions.dump"]


def test_conversations_are_separate_per_user_guild_and_channel(frozen: Frozen) -> None:
    ctx, _ = frozen
    talk = ctx.conversations
    talk.append_message("u1", "user", "in guild A", guild_id="gA", channel_id="c1")
    talk.append_message("u1", "user", "in guild B", guild_id="gB", channel_id="c1")
    talk.append_message("u1", "user", "other channel", guild_id="gA", channel_id="c2")
    talk.append_message("u2", "user", "someone else", guild_id="gA", channel_id="c1")
    assert talk.get_conversation("u1", guild_id="gA", channel_id="c1") == [
        {"role": "user", "content": "in guild A"}
    ]
    assert talk.get_conversation("u1") == []


def test_an_idle_conversation_expires_and_the_next_message_starts_afresh(frozen: Frozen) -> None:
    ctx, clock = frozen
    talk = ctx.conversations
    talk.append_message("u1", "user", "old topic")
    clock.advance(ctx.settings.sessions.idle_minutes * 60 + 1)
    assert talk.get_conversation("u1") == []
    talk.append_message("u1", "user", "new topic")
    assert talk.get_conversation("u1") == [{"role": "user", "content": "new topic"}]
    statuses = sorted(s.status for s in ctx.sessions.list(user_id="u1"))
    assert statuses == ["active", "expired"]
