"""A member's data on both backends: export shows everything, forget erases all but the books.

The crash test kills a real process (SIGKILL) at each phase boundary of an erasure and checks
that a rerun in a fresh process finishes it with the books still balanced.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import Settings
from core.context import AppContext
from core.errors import UnknownUser
from core.scope import Scope
from core.users.privacy import PHASES, PSEUDONYM_PREFIX
from tests.conftest import Backend
from tests.core.security_support import keyed_context, run_python

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    with keyed_context(settings, START) as (context, _clock):
        yield context


def populate(ctx: AppContext, user: str = "u1", guild: str = "g1") -> dict[str, str]:
    """A member with a profile, XP, money moving both ways, a session and a stored file."""
    ctx.users.upsert(user, "alice", guild_id=guild)
    ctx.users.upsert(user, "alice")
    ctx.users.upsert("u2", "bob", guild_id=guild)
    ctx.xp.add(user, 120, guild_id=guild)
    ctx.xp.add("u2", 30, guild_id=guild)
    ctx.bank.add(user, 500, guild_id=guild)
    ctx.bank.add("u2", 200, guild_id=guild)
    ctx.bank.transfer(user, "u2", 70, guild_id=guild)
    ctx.bank.transfer("u2", user, 20, guild_id=guild)
    sid = ctx.sessions.create(user, "c1", guild)
    ctx.sessions.append(sid, "user", "my very private question")
    ctx.sessions.append(sid, "assistant", "a private answer")
    other = ctx.sessions.create("u2", "c1", guild)
    ctx.sessions.append(other, "user", "bob's words")
    record = ctx.storage.save(user, PNG, {"prompt": "a cat"}, guild_id=guild)
    return {"session": sid, "other_session": other, "file": record.file_id, "path": record.path}


def test_export_holds_profile_xp_ledger_decrypted_sessions_and_files(ctx: AppContext) -> None:
    made = populate(ctx)
    doc = ctx.privacy.export("u1")
    assert doc["user_id"] == "u1"
    assert {p["guild_id"] for p in doc["profiles"]} == {None, "g1"}
    assert doc["xp"] == [{"guild_id": "g1", "xp": 120}]
    (account,) = doc["bank"]
    assert account["balance"] == 450
    assert sorted(e["amount"] for e in account["ledger"]) == [-70, 20, 500]
    (session,) = doc["sessions"]
    assert session["session_id"] == made["session"]
    assert [m["content"] for m in session["messages"]] == [
        "my very private question",
        "a private answer",
    ]
    assert [f["file_id"] for f in doc["files"]] == [made["file"]]
    assert doc["quota"]["stored_files"] == 1
    assert "bob's words" not in json.dumps(doc, default=str)


def test_export_of_one_guild_leaves_out_the_global_profile(ctx: AppContext) -> None:
    populate(ctx)
    doc = ctx.privacy.export("u1", scope=Scope.of("g1"))
    assert [p["guild_id"] for p in doc["profiles"]] == ["g1"]


def test_export_and_forget_of_an_unknown_member_raise_unknown_user(ctx: AppContext) -> None:
    populate(ctx)
    with pytest.raises(UnknownUser):
        ctx.privacy.export("nobody")
    with pytest.raises(UnknownUser):
        ctx.privacy.forget("nobody")
    with pytest.raises(UnknownUser):
        ctx.privacy.forget("u1", scope=Scope.of("g-other"))


def test_forget_erases_everything_but_keeps_balanced_books_under_a_pseudonym(
    ctx: AppContext,
) -> None:
    made = populate(ctx)
    before = ctx.bank.audit()
    report = ctx.privacy.forget("u1")
    assert report.pseudonym.startswith(PSEUDONYM_PREFIX) and "u1" not in report.pseudonym
    assert (report.profiles, report.xp_records, report.sessions, report.files) == (2, 1, 1, 1)
    assert report.messages == 2
    assert ctx.users.get("u1") is None and ctx.users.get("u1", guild_id="g1") is None
    assert ctx.xp._repo.member_totals("u1") == []
    assert ctx.bank._repo.member_balances("u1") == []
    assert ctx.bank.balance(report.pseudonym, guild_id="g1").balance == 450
    assert ctx.sessions.list(user_id="u1") == []
    assert not (ctx.settings.storage_root / made["path"]).exists()
    assert ctx.storage.files("u1", Scope.EVERY) == []
    # The other member keeps everything, and the books balance exactly as before.
    assert ctx.bank.balance("u2", guild_id="g1").balance == 250
    assert ctx.users.get("u2", guild_id="g1") is not None
    assert len(ctx.sessions.list(user_id="u2")) == 1
    after = ctx.bank.audit()
    assert after.ok and before.ok
    assert [s.total_balance for s in after.scopes] == [s.total_balance for s in before.scopes]
    counterparts = {e.counterparty for e in ctx.bank.history("u2", guild_id="g1")}
    assert "u1" not in counterparts and report.pseudonym in counterparts


@pytest.mark.slow
def test_the_same_member_always_gets_the_same_pseudonym(ctx: AppContext) -> None:
    populate(ctx, guild="g1")
    populate(ctx, guild="g2")
    first = ctx.privacy.forget("u1", scope=Scope.of("g1"))
    second = ctx.privacy.forget("u1", scope=Scope.of("g2"))
    assert first.pseudonym == second.pseudonym
    key = ctx.settings.data_dir / "pseudonym.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_forget_twice_reports_already_forgotten_and_dry_run_changes_nothing(
    ctx: AppContext,
) -> None:
    populate(ctx)
    planned = ctx.privacy.forget("u1", dry_run=True)
    assert planned.dry_run and planned.files == 1 and planned.messages == 2
    assert ctx.users.get("u1") is not None and ctx.storage.files("u1", Scope.EVERY)
    ctx.privacy.forget("u1")
    again = ctx.privacy.forget("u1")
    assert again.already_forgotten


def test_the_governance_event_records_the_erasure_without_the_id(ctx: AppContext) -> None:
    populate(ctx)
    report = ctx.privacy.forget("u1")
    lines = ctx.settings.events_path.read_text().splitlines()
    events = [json.loads(line) for line in lines if "governance.privacy.forget" in line]
    assert len(events) == 1
    assert events[0]["payload"]["pseudonym"] == report.pseudonym
    assert '"u1"' not in lines[-1] and "u1" not in json.dumps(events[0]["payload"])


_KILL_AT = """
import os, signal
from core.context import open_context
ctx = open_context()
def step(phase):
    if phase == {phase!r}:
        os.kill(os.getpid(), signal.SIGKILL)
ctx.privacy.forget("u1", on_phase=step)
"""


@pytest.mark.slow
@pytest.mark.parametrize("phase", PHASES)
def test_a_forget_killed_at_each_phase_is_finished_by_a_rerun(
    backend: Backend, phase: str, tmp_path: Path
) -> None:
    with keyed_context(backend.settings(), START) as (context, _clock):
        made = populate(context)
        context.close()
        killed = run_python(_KILL_AT.format(phase=phase), backend.env)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        rerun = run_python(
            "from core.context import open_context\n"
            "r = open_context().privacy.forget('u1')\n"
            "print(r.pseudonym, r.already_forgotten)",
            backend.env,
        )
        assert rerun.returncode == 0, rerun.stderr
        fresh = AppContext(backend.settings())
        try:
            assert fresh.users.get("u1") is None and fresh.users.get("u1", guild_id="g1") is None
            assert fresh.sessions.list(user_id="u1") == []
            assert fresh.xp._repo.member_totals("u1") == []
            assert fresh.bank._repo.member_balances("u1") == []
            assert not (fresh.settings.storage_root / made["path"]).exists()
            assert fresh.bank.audit().ok
            assert fresh.bank.balance(rerun.stdout.split()[0], guild_id="g1").balance == 450
            assert os.path.exists(fresh.settings.data_dir / "pseudonym.key")
        finally:
            fresh.close()
