"""`/privacy export` once an hour per member, through real bot processes, on both backends.

The second export inside the window is one private line saying when it opens; the window is
in the database, so a second bot process on the same store refuses it too.
"""

from __future__ import annotations

import re
import time

import pytest

from core.context import AppContext
from tests.bot.conftest import LiveBot
from tests.core.security_support import add_key

pytestmark = pytest.mark.slow
MEMBER, OTHER = 7501, 7502


def prepare_store(context: AppContext) -> None:
    add_key(context)
    for member in (MEMBER, OTHER):
        context.users.upsert(str(member), f"member{member}", "0")
        session = context.sessions.create(str(member), "c1", None)
        context.sessions.append(session, "user", f"private question of {member}")


def _export(bot: LiveBot, member: int):  # noqa: ANN202
    reply = bot.standin.interact("privacy", subcommand="export", user=member).wait_reply(30)
    assert reply.ephemeral, f"members would all see: {reply.content!r}"
    return reply


def test_a_second_export_within_the_hour_says_privately_when_it_opens(live_bot: LiveBot) -> None:
    first = _export(live_bot, MEMBER)
    assert [a["filename"] for a in first.attachments] == [f"abby-data-{MEMBER}.json"]
    asked = time.time()
    second = _export(live_bot, MEMBER)
    assert second.attachments == [], "a second export inside the window sends no file"
    found = re.fullmatch(
        r"⏳ You exported your data recently; the next export opens <t:(\d+):R>\.", second.content
    )
    assert found, second.content
    assert abs(int(found[1]) - (asked + 3600)) < 120, (found[1], asked)
    context = live_bot.context()
    try:
        events = context.events.tail(10, event_type="governance.privacy.export")
    finally:
        context.close()
    assert len(events) == 1, "the refused export decrypted nothing and recorded nothing"


def test_another_bot_process_on_the_same_store_refuses_it_too(live_bot: LiveBot, start_bot) -> None:  # noqa: ANN001
    assert _export(live_bot, OTHER).attachments
    second = start_bot(env=live_bot.env, backend="sqlite")
    again = _export(second, OTHER)
    assert again.attachments == [] and "the next export opens <t:" in again.content
