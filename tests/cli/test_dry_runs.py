"""Every destructive command's --dry-run: it says what it would do and changes nothing.

"Nothing" is checked on the whole store: a logical dump of the database (every SQLite row,
or every MongoDB document) and every file of the data dir, before and after the dry run.
A confirmation answered "n" is exit 4 ("cancelled") with one line, also checked here.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.context import AppContext
from tests.conftest import ROOT, Cli
from tests.support.stability_server import make_png

# Written by every command (logs, events) or by reading (Chroma's own bookkeeping): never data.
_VOLATILE = ("logs", "telemetry", "chroma", "models")


def snapshot(context: AppContext) -> dict[str, object]:
    """Everything a destructive command could change, in comparable form."""
    settings = context.settings
    data_dir = Path(settings.data_dir)
    files = {}
    for path in sorted(data_dir.rglob("*")):
        relative = path.relative_to(data_dir)
        if path.is_file() and relative.parts[0] not in _VOLATILE:
            if not relative.name.startswith("abby.db"):
                files[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    if settings.database.uri is None:
        uri = f"file:{settings.sqlite_path}?mode=ro"
        with sqlite3.connect(uri, uri=True) as conn:
            database = list(conn.iterdump())
    else:
        db = context.database.client[settings.database.name]
        database = {
            name: sorted(repr(sorted(doc.items())) for doc in db[name].find())
            for name in sorted(db.list_collection_names())
        }
    vectors = context.rag.stats()["vectors"] if (data_dir / "chroma").exists() else None
    return {"files": files, "database": database, "vectors": vectors}


@pytest.fixture
def store(cli, backend_env, context: AppContext) -> AppContext:  # noqa: ANN001
    """A set-up store with a key, two ended sessions and one open one."""
    assert cli("keys", "generate", "--write").exit_code == 0
    for user in ("u1", "u2"):
        sid = context.sessions.create(user, "c1", "g1")
        context.sessions.append_many(sid, [("user", "hello"), ("assistant", "hi")])
        context.sessions.close(sid)
    context.sessions.create("u3", "c1", "g1")
    return context


def dry(cli, *argv: str) -> dict:  # noqa: ANN001
    result = cli(*argv, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    return result.json()


def test_keys_rotate_dry_run_reports_what_it_would_rotate_and_rotates_nothing(
    cli: Cli, store: AppContext
) -> None:
    old = store.keys.ring().primary_id
    assert cli("keys", "generate", "--write").exit_code == 0
    before = snapshot(store)
    report = dry(cli, "keys", "rotate")
    assert (report["would_rotate"], report["rotated"], report["dry_run"]) == (4, 0, True)
    assert snapshot(store) == before
    assert store.keys.counts() == {old: 4}
    human = cli("keys", "rotate", "--dry-run")
    assert "would re-encrypt 4 record(s)" in human.stdout and "rotated 4" not in human.stdout


def test_keys_retire_dry_run_checks_like_a_retire_and_keeps_the_key(
    cli: Cli, store: AppContext
) -> None:
    old = store.keys.ring().primary_id
    assert cli("keys", "generate", "--write").exit_code == 0
    in_use = cli("keys", "retire", old, "--dry-run", "--json")
    assert in_use.exit_code == 4 and "record" in in_use.json()["error"]["message"], in_use.output
    assert cli("keys", "rotate", "--yes").exit_code == 0
    before = snapshot(store)
    report = dry(cli, "keys", "retire", old)
    assert report["dry_run"] is True and old not in report["remaining"]
    assert snapshot(store) == before and old in store.keys.ring().ids


def test_session_purge_and_close_dry_runs_change_nothing(cli: Cli, store: AppContext) -> None:
    before = snapshot(store)
    purge = dry(cli, "session", "purge", "--older-than", "0s")
    assert purge, purge
    open_id = next(s.session_id for s in store.sessions.list() if s.user_id == "u3")
    close = dry(cli, "session", "close", open_id)
    assert close["would_close"] is True and close["session"]["status"] == "active"
    assert snapshot(store) == before
    assert len(store.sessions.list()) == 3


def test_storage_cleanup_and_delete_dry_runs_change_nothing(cli: Cli, store: AppContext) -> None:
    records = [store.storage.save("u1", make_png(4, 4)) for _ in range(2)]
    stamp = (datetime.now(UTC) - timedelta(days=400)).timestamp()
    for record in records:
        os.utime(store.storage.absolute(record), (stamp, stamp))
    (store.storage.real_root() / "u1").mkdir(exist_ok=True)
    before = snapshot(store)
    dry(cli, "storage", "cleanup")
    report = dry(cli, "storage", "delete", records[0].file_id)
    assert report["file_id"] == records[0].file_id and report["dry_run"] is True
    assert snapshot(store) == before
    assert all(store.storage.absolute(r).exists() for r in records)


def test_bank_recover_dry_run_lists_what_it_would_recover_and_recovers_nothing(
    cli: Cli, store: AppContext
) -> None:
    from tests.contracts.test_economy_recovery import Budget, Crash, _crashing_repo, _service

    store.bank.add("a", 100)
    mongo = store.database.backend == "mongo"
    if mongo:  # a transfer cut off after its debit, its process dead a minute ago
        with pytest.raises(Crash):
            _service(store, _crashing_repo(store, Budget(4))).transfer(
                "a", "b", 30, idempotency_key="cut-off"
            )
        store.database.collection("bank_transfers").update_one(
            {"_id": "cut-off"}, {"$set": {"updated_at": datetime.now(UTC) - timedelta(minutes=1)}}
        )
    before = snapshot(store)
    report = dry(cli, "bank", "recover")
    assert report["dry_run"] is True
    if mongo:
        assert (report["rolled_forward"], report["rolled_back"]) == (1, 0), report
        assert report["steps"] == [{"transfer_id": "cut-off", "scope": "", "action": "finish"}]
    else:  # a SQLite movement is one transaction: never anything to recover
        assert (report["rolled_forward"], report["rolled_back"], report["steps"]) == (0, 0, [])
    assert snapshot(store) == before  # not even the recovery that opening the bank runs
    done = cli("bank", "recover", "--json")  # (opening the bank already finishes it)
    assert done.exit_code == 0 and done.json()["dry_run"] is False, done.output
    assert store.bank.balance("b").balance == (30 if mongo else 0)
    assert store.bank.audit().ok


def test_xp_import_dry_run_reports_the_changes_and_writes_nothing(
    cli: Cli, store: AppContext, tmp_path: Path
) -> None:
    store.xp.add("1", 5000, guild_id="g")
    store.users.count()  # its schema exists, as on any store where the bot has run
    export = tmp_path / "mee6.json"
    players = [{"id": "1", "xp": 100, "username": "one"}, {"id": "2", "xp": 300, "username": "two"}]
    export.write_text(json.dumps({"players": players}))
    before = snapshot(store)
    report = dry(cli, "xp", "import-mee6", str(export), "--guild", "g", "--mode", "replace")
    assert (report["players"], report["changed"], report["lowered"]) == (2, 2, 1)
    assert report["profiles_created"] == 2 and report["dry_run"] is True
    assert snapshot(store) == before
    assert store.xp.get("1", guild_id="g").xp == 5000 and store.users.get("2", guild_id="g") is None


@pytest.mark.slow
def test_rag_delete_repair_and_reindex_dry_runs_change_nothing(
    cli: Cli, store: AppContext, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\n\nRotate encryption keys with abby keys rotate.")
    (docs / "b.md").write_text("# Beta\n\nTransfers move coins exactly once.")
    (docs / "c.md").write_text("# Gamma\n\nThe leaderboard ranks members by XP.")
    assert cli("rag", "ingest", str(docs)).exit_code == 0
    records = cli("rag", "list", "--json").json()
    broken = records[0]["doc_id"]
    store.rag.store.delete_documents([broken])  # a crash lost one document's vectors
    before = snapshot(store)

    deleted = dry(cli, "rag", "delete", records[1]["doc_id"])
    assert deleted["deleted"] is False and deleted["document"]["doc_id"] == records[1]["doc_id"]
    repair = cli("rag", "verify", "--repair", "--dry-run", "--json")
    assert repair.exit_code == 4, repair.output  # problems remain: nothing was repaired
    problems = repair.json()["problems"]
    assert [p["doc_id"] for p in problems] == [broken] and problems[0]["action"]
    assert repair.json()["repaired"] is False
    reindex = dry(cli, "rag", "reindex")
    assert reindex["dry_run"] is True and reindex["chunks"] == 2 and reindex["documents"] == 3
    assert snapshot(store) == before


def _answer_no(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run abby with a terminal on stdin and answer "n" at its question."""
    import pty

    main_fd, child_fd = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "abby_cli.main", *argv],
        stdin=child_fd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    os.close(child_fd)
    time.sleep(0.5)
    os.write(main_fd, b"n\n")
    try:
        out, err = process.communicate(timeout=120)
    finally:
        os.close(main_fd)
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def test_answering_no_is_exit_4_cancelled_in_one_line_and_changes_nothing(
    store: AppContext, backend_env: dict[str, str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")} | backend_env
    before = snapshot(store)
    result = _answer_no(["session", "purge", "--older-than", "0s"], env)
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert "cancelled: nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(store) == before
