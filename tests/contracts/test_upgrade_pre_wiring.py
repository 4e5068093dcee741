"""Data written before #10 (the wiring change) opens with today's code and loses nothing.

tests/fixtures/pre_wiring/ was written by the code of commit 9cab9f5 (see make.py there): a
SQLite data dir, a dump of a MongoDB database built by the same steps, and the backend-neutral
export of every record as that code produced it. Today's code opens each, runs its migrations
(timestamps rewritten as fixed-width UTC, user documents re-keyed, ...), and must export the
very same records, read them back through the services, and stay the same on a second open.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import json_util

from core.clock import FrozenClock
from core.config import load_settings
from core.context import AppContext, repositories_of, use_context
from core.scope import Scope
from tests.conftest import Backend

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "pre_wiring"
# Two minutes after the fixture's last write: its open session is still active (a later clock
# would expire it on the first read, which is a change of data, not a loss).
SOON_AFTER = datetime(2026, 11, 20, 9, 33, tzinfo=UTC)


def _expected(backend: str) -> list[str]:
    lines = (FIXTURE / f"{backend}.records.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted(lines)


def _exported(ctx: AppContext) -> list[str]:
    lines = []
    for domain, repo in sorted(repositories_of(ctx.database).items()):
        for record in repo.export():
            line = {"domain": domain, **record}
            lines.append(json.dumps(line, sort_keys=True, ensure_ascii=False, default=str))
    return sorted(lines)


def _open(backend: Backend, tmp_path: Path) -> AppContext:
    env = dict(backend.env)
    if backend.name == "sqlite":
        data = Path(env["ABBY_DATA_DIR"])
        data.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(FIXTURE / "sqlite", data)
        data.chmod(0o700)
    else:
        import pymongo

        dump = json_util.loads((FIXTURE / "mongo.json").read_text(encoding="utf-8"))
        client = pymongo.MongoClient(env["ABBY_DATABASE__URI"], tz_aware=True)
        db = client[env["ABBY_DATABASE__NAME"]]
        for name, documents in dump.items():
            if documents:
                db[name].insert_many(documents)
        client.close()
    return _context(env)


def _context(env: dict[str, str]) -> AppContext:
    return AppContext(load_settings(environ=env), clock=FrozenClock(SOON_AFTER), create_store=False)


def _check_through_the_services(ctx: AppContext) -> None:
    with use_context(ctx):
        assert ctx.users.get("u1").bio == "likes owls"
        assert ctx.users.get("u1").timezone == "Europe/Paris"
        assert ctx.users.get("u2", guild_id="g1").discriminator == "0042"
        assert ctx.xp.get("u1", guild_id="g1").xp == 120 and ctx.xp.get("u1").xp == 7
        assert [r.user_id for r in ctx.xp.leaderboard(guild_id="g1", limit=10)] == ["u1", "u2"]
        assert ctx.xp.settings_for("g1").cooldown_seconds == 30
        assert ctx.bank.balance("u1", guild_id="g1").balance == 375
        assert ctx.bank.balance("u4").balance == 9
        assert ctx.bank.audit().ok
        listed = {s.user_id: s for s in ctx.sessions.list()}
        assert listed["u1"].status == "closed" and listed["u1"].turns == 2
        assert listed["u2"].status == "active"
        (kept,) = ctx.storage.kept_files("u2", Scope.of("g1"))
        assert kept.metadata == {"prompt": "kept"}
        assert [f.user_id for f in ctx.storage.files("u1", Scope.EVERY)] == ["u1"]
        assert ctx.moderation.access("g1").admin_role_ids == ("777000111",)


def _short_lived(ctx: AppContext) -> dict[str, int]:
    """Rows the neutral export leaves out (cooldowns, pending level marks) must survive too."""
    if ctx.database.backend == "sqlite":
        conn = sqlite3.connect(ctx.settings.sqlite_path)
        try:
            return {
                table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("privacy_exports", "xp_level_pending")
            }
        finally:
            conn.close()
    db = ctx.database.db
    return {name: db[name].count_documents({}) for name in ("privacy_exports", "xp_level_pending")}


@pytest.mark.slow
def test_a_data_dir_written_before_the_wiring_change_opens_and_keeps_every_record(
    backend: Backend, tmp_path: Path
) -> None:
    expected = _expected(backend.name)
    ctx = _open(backend, tmp_path)
    try:
        ctx.init_schema()
        assert _exported(ctx) == expected
        _check_through_the_services(ctx)
        before = _short_lived(ctx)
        assert before["privacy_exports"] == 1 and before["xp_level_pending"] >= 1
    finally:
        ctx.close()
    # A second open migrates nothing more and changes nothing.
    again = _context(backend.env)
    try:
        again.init_schema()
        assert _exported(again) == expected
        assert _short_lived(again) == before
    finally:
        again.close()
