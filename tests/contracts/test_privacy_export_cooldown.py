"""A member's own export (`/privacy export`) is limited per member, in the database.

The limit holds across processes (two bot processes, a restart) because the claim is one
guarded write; the operator's `abby user export` is never limited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ExportOnCooldown, UnknownUser
from tests.conftest import ROOT, Backend
from tests.core.security_support import keyed_context

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def keyed(settings):  # noqa: ANN001, ANN201
    with keyed_context(settings, START) as (context, clock):
        context.users.upsert("u1", "alice", guild_id="g1")
        sid = context.sessions.create("u1", "c1", "g1")
        context.sessions.append(sid, "user", "a private question")
        yield context, clock


def test_a_second_own_export_inside_the_hour_is_refused_saying_when_it_opens(keyed) -> None:  # noqa: ANN001
    ctx, clock = keyed
    first = ctx.privacy.export_own("u1")
    assert first["user_id"] == "u1"
    clock.advance(600)
    with pytest.raises(ExportOnCooldown) as refused:
        ctx.privacy.export_own("u1")
    assert refused.value.exit_code == 4
    assert refused.value.fields["next_at"] == START + timedelta(hours=1)
    assert "once every hour" in str(refused.value)


def test_the_own_export_opens_again_when_the_window_has_passed(keyed) -> None:  # noqa: ANN001
    ctx, clock = keyed
    ctx.privacy.export_own("u1")
    clock.advance(3600)
    assert ctx.privacy.export_own("u1")["user_id"] == "u1"
    clock.advance(1)
    with pytest.raises(ExportOnCooldown) as refused:
        ctx.privacy.export_own("u1")
    assert refused.value.fields["next_at"] == START + timedelta(hours=2)


def test_the_operator_export_is_never_limited_and_does_not_start_the_window(keyed) -> None:  # noqa: ANN001
    ctx, _clock = keyed
    for _ in range(3):
        ctx.privacy.export("u1", actor="operator")
    ctx.privacy.export_own("u1")  # the operator's exports did not use the member's turn
    for _ in range(2):
        ctx.privacy.export("u1", actor="operator")


def test_the_window_is_per_member(keyed) -> None:  # noqa: ANN001
    ctx, _clock = keyed
    ctx.users.upsert("u2", "bob", guild_id="g1")
    ctx.privacy.export_own("u1")
    assert ctx.privacy.export_own("u2")["user_id"] == "u2"


def test_an_own_export_with_nothing_held_gives_its_turn_back(keyed) -> None:  # noqa: ANN001
    ctx, _clock = keyed
    for _ in range(2):  # not "on cooldown" the second time: the first claim was given back
        with pytest.raises(UnknownUser):
            ctx.privacy.export_own("nobody")


def test_forget_erases_when_the_member_last_exported(keyed) -> None:  # noqa: ANN001
    ctx, _clock = keyed
    ctx.privacy.export_own("u1")
    ctx.privacy.forget("u1")
    ctx.users.upsert("u1", "alice", guild_id="g1")
    assert ctx.privacy.export_own("u1")["user_id"] == "u1"


def test_the_window_survives_a_new_context_as_after_a_restart(keyed, settings) -> None:  # noqa: ANN001
    ctx, _clock = keyed
    ctx.privacy.export_own("u1")
    with keyed_context(settings, START + timedelta(minutes=5)) as (fresh, _):
        with pytest.raises(ExportOnCooldown):
            fresh.privacy.export_own("u1")


def test_a_zero_cooldown_setting_turns_the_limit_off(backend: Backend) -> None:
    settings = backend.settings(privacy={"export_cooldown_seconds": 0})
    with keyed_context(settings, START) as (ctx, _clock):
        ctx.users.upsert("u1", "alice", guild_id="g1")
        for _ in range(3):
            ctx.privacy.export_own("u1")


_WORKER = """
import json, sys, time
from core.config import load_settings
from core.context import AppContext
from core.errors import ExportOnCooldown
ctx = AppContext(load_settings())
while time.time() < float(sys.argv[1]):
    time.sleep(0.005)
try:
    ctx.privacy.export_own("u1")
    print(json.dumps({"exported": True}))
except ExportOnCooldown:
    print(json.dumps({"exported": False}))
ctx.close()
"""


@pytest.mark.slow
def test_two_processes_exporting_at_once_export_once(keyed, backend: Backend) -> None:  # noqa: ANN001
    ctx, _clock = keyed
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    env.update(backend.env, PYTHONPATH=str(ROOT))
    start_at = str(time.time() + 4)
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, start_at], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]  # fmt: skip
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1])["exported"])
    assert sorted(results) == [False, False, True]
