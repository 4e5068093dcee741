"""`abby db copy --to URI`: every domain, resumable after SIGKILL, refusals, fast failure.

The copies run as real `abby` processes. MongoDB is the mongoeco stand-in, which writes a few
hundred documents a second and slows with size, so its copies are small (same code path).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import load_settings
from core.context import AppContext, open_database, repositories_of
from tests.conftest import ROOT, run_abby
from tests.support.mobility import bulk, bulk_ledger, populate, snapshot


@pytest.fixture
def source(tmp_path: Path) -> Iterator[tuple[AppContext, dict[str, str]]]:
    env = {"ABBY_DATA_DIR": str(tmp_path / "source")}
    ctx = AppContext(load_settings(environ=env))
    populate(ctx)
    yield ctx, env
    ctx.close()


def _sorted(records: list[dict]) -> list[dict]:
    return sorted(records, key=json.dumps)


def _target_snapshot(uri: str, tmp_path: Path) -> dict[str, list[dict]]:
    settings = load_settings(environ={"ABBY_DATA_DIR": str(tmp_path / "unused")})
    db = open_database(uri, settings)
    try:
        return {d: list(r.export()) for d, r in repositories_of(db).items()}
    finally:
        db.close()


def _assert_same(source: AppContext, uri: str, tmp_path: Path) -> None:
    expected = snapshot(source)
    found = _target_snapshot(uri, tmp_path)
    for domain, records in expected.items():
        assert _sorted(found[domain]) == _sorted(records), domain


@pytest.fixture
def mongo_target(mongo_uri: str) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:16]}"
    base, _, query = mongo_uri.partition("?")
    uri = f"{base.rstrip('/')}/{name}" + (f"?{query}" if query else "")
    yield uri
    from pymongo import MongoClient

    with MongoClient(mongo_uri) as client:
        client.drop_database(name)


@pytest.mark.slow
def test_copy_to_sqlite_then_mongodb_reports_counts_and_a_balanced_audit(
    source: tuple[AppContext, dict[str, str]], tmp_path: Path, mongo_target: str
) -> None:
    ctx, env = source
    for uri in (f"sqlite:///{tmp_path / 'copy' / 'abby.db'}", mongo_target):
        result = run_abby("db", "copy", "--to", uri, "--json", env=env)
        assert result.exit_code == 0, result.output
        report = result.json()
        assert report["ok"] and report["audit"] == {
            "source_ok": True, "target_ok": True, "problems": []
        }  # fmt: skip
        assert "PASSWORD" not in result.stdout
        for domain in report["domains"]:
            assert domain["source_records"] == domain["target_records"] == domain["inserted"] > 0
        _assert_same(ctx, uri, tmp_path)


def test_a_non_empty_target_is_refused_without_merge_and_left_as_it_was(
    source: tuple[AppContext, dict[str, str]], tmp_path: Path
) -> None:
    ctx, env = source
    uri = f"sqlite:///{tmp_path / 'copy' / 'abby.db'}"
    assert run_abby("db", "copy", "--to", uri, env=env).exit_code == 0
    ctx.bank.add("u1", 5, reason="after the copy", guild_id="g1")
    refused = run_abby("db", "copy", "--to", uri, env=env)
    assert refused.exit_code == 4, refused.output
    assert refused.stderr.count("\n") == 1 and "--merge" in refused.stderr
    found = _target_snapshot(uri, tmp_path)
    assert len(found["bank"]) == len(snapshot(ctx)["bank"]) - 2  # the new mint is not there

    merged = run_abby("db", "copy", "--to", uri, "--merge", "--json", env=env)
    # The new mint's ledger row and transfer went in; its account is a conflict, not overwritten.
    assert merged.exit_code == 4, merged.output
    report = merged.json()
    bank = next(d for d in report["domains"] if d["domain"] == "bank")
    assert (bank["inserted"], bank["conflicts"]) == (2, 1)
    assert bank["conflict_keys"] == ["bank_accounts:g1/u1"]
    assert report["ok"] is False


@pytest.mark.parametrize(
    "uri, message",
    [
        ("postgres://db/abby", "must be mongodb://"),
        ("sqlite:///relative/../x.db", "absolute file path"),
        ("mongodb://[bad", "not a valid MongoDB URI"),
    ],
)
def test_a_bad_target_uri_is_one_line_and_exit_2(
    source: tuple[AppContext, dict[str, str]], uri: str, message: str
) -> None:
    result = run_abby("db", "copy", "--to", uri, env=source[1])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_a_target_file_that_is_no_database_is_refused_and_left_as_it_was(
    source: tuple[AppContext, dict[str, str]], tmp_path: Path
) -> None:
    target = tmp_path / "notes.db"
    target.write_text("my notes")
    result = run_abby("db", "copy", "--to", f"sqlite:///{target}", env=source[1])
    assert result.exit_code == 2, result.output
    assert "is not an SQLite database" in result.stderr
    assert target.read_text() == "my notes"


def test_the_target_uri_can_come_from_stdin_out_of_the_process_list(
    source: tuple[AppContext, dict[str, str]], tmp_path: Path
) -> None:
    ctx, env = source
    uri = f"sqlite:///{tmp_path / 'copy' / 'abby.db'}"
    full = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    done = subprocess.run(
        [sys.executable, "-m", "abby_cli.main", "db", "copy", "--to", "-", "--json"],
        input=uri + "\n", env={**full, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["target"] == str(tmp_path / "copy" / "abby.db")
    _assert_same(ctx, uri, tmp_path)


def test_the_source_itself_is_refused(source: tuple[AppContext, dict[str, str]]) -> None:
    ctx, env = source
    result = run_abby("db", "copy", "--to", f"sqlite:///{ctx.settings.sqlite_path}", env=env)
    assert result.exit_code == 2 and "is the source database itself" in result.stderr


@pytest.mark.slow
def test_an_unreachable_target_is_exit_75_within_5_seconds(
    source: tuple[AppContext, dict[str, str]],
) -> None:
    started = time.monotonic()
    result = run_abby(
        "db", "copy", "--to", "mongodb://abby:PASSWORD@127.0.0.1:9/abby", "--json", env=source[1]
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 75, result.output
    assert result.json()["error"]["code"] == "service_unavailable"
    assert "PASSWORD" not in result.stdout + result.stderr
    assert elapsed < 5, elapsed


def _sqlite_rows(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as conn:
            return conn.execute("SELECT COUNT(*) FROM xp").fetchone()[0]
    except sqlite3.Error:
        return 0


def _checkpoint(ctx: AppContext) -> dict:
    (path,) = (ctx.settings.data_dir / "copies").glob("*.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize("target", [pytest.param("sqlite", marks=pytest.mark.slow), "mongo"])
def test_sigkill_during_a_copy_then_the_rerun_completes_without_duplicates(
    source: tuple[AppContext, dict[str, str]],
    tmp_path: Path,
    target: str,
    request: pytest.FixtureRequest,
) -> None:
    ctx, env = source
    if target == "sqlite":
        bulk(ctx, 60_000)
        path = tmp_path / "copy" / "abby.db"
        uri = f"sqlite:///{path}"
        started = lambda: _sqlite_rows(path) > 0  # noqa: E731 - mid-way through the XP
    else:
        uri = request.getfixturevalue("mongo_target")
        copies = ctx.settings.data_dir / "copies"
        started = lambda: any(  # noqa: E731 - after the first domain, during the next ones
            "users" in json.loads(p.read_text()).get("done", []) for p in copies.glob("*.json")
        )
    full = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "abby_cli.main", "db", "copy", "--to", uri, "--json"],
        env={**full, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not started() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the copy finished before it could be killed"
    assert _checkpoint(ctx)["finished"] is False

    rerun = run_abby("db", "copy", "--to", uri, "--json", env=env, timeout=300)
    assert rerun.exit_code == 0, rerun.output
    report = rerun.json()
    assert report["resumed"] is True and report["conflicts"] == 0
    for domain in report["domains"]:
        assert domain["target_records"] == domain["source_records"], domain
    _assert_same(ctx, uri, tmp_path)
    assert _checkpoint(ctx)["finished"] is True


@pytest.mark.slow
def test_two_copies_into_one_sqlite_target_at_once_write_every_ledger_row_once(
    source: tuple[AppContext, dict[str, str]], tmp_path: Path
) -> None:
    """The ledger's identity (transfer, side) is no SQLite constraint: only the importer's
    key map, refreshed inside each write transaction, keeps a concurrent copy from
    inserting a row twice."""
    ctx, env = source
    bulk_ledger(ctx, 30_000)
    uri = f"sqlite:///{tmp_path / 'copy' / 'abby.db'}"
    full = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    copies = [
        subprocess.Popen(
            [sys.executable, "-m", "abby_cli.main", "db", "copy", "--to", uri, "--merge", "--json"],
            env={**full, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    for process in copies:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, out + err
    with sqlite3.connect(tmp_path / "copy" / "abby.db") as conn:
        rows, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT transfer_id || '/' || side) FROM bank_ledger"
        ).fetchone()
    assert rows == distinct == len([r for r in snapshot(ctx)["bank"]
                                    if r["record"] == "bank_ledger"])  # fmt: skip
    _assert_same(ctx, uri, tmp_path)


@pytest.mark.slow
def test_copy_back_from_mongodb_to_sqlite_with_the_command(
    mongo_target: str, tmp_path: Path
) -> None:
    """The way back: a community on MongoDB moves to one machine with the same command."""
    base, _, query = mongo_target.partition("?")
    name = base.rsplit("/", 1)[1]
    env = {
        "ABBY_DATA_DIR": str(tmp_path / "on-mongo"),
        "ABBY_DATABASE__URI": base.rsplit("/", 1)[0] + "/" + (f"?{query}" if query else ""),
        "ABBY_DATABASE__NAME": name,
    }
    ctx = AppContext(load_settings(environ=env))
    try:
        populate(ctx, members=3)
        uri = f"sqlite:///{tmp_path / 'back' / 'abby.db'}"
        result = run_abby("db", "copy", "--to", uri, "--json", env=env)
        assert result.exit_code == 0, result.output
        assert result.json()["audit"]["target_ok"] is True
        _assert_same(ctx, uri, tmp_path)
    finally:
        ctx.close()


def test_a_checkpoint_is_not_trusted_for_a_target_that_lost_its_records(
    source: tuple[AppContext, dict[str, str]], tmp_path: Path
) -> None:
    """An interrupted copy's target, removed and started afresh: the rerun copies it all."""
    ctx, env = source
    path = tmp_path / "copy" / "abby.db"
    assert run_abby("db", "copy", "--to", f"sqlite:///{path}", env=env).exit_code == 0
    (checkpoint,) = (ctx.settings.data_dir / "copies").glob("*.json")
    state = json.loads(checkpoint.read_text())
    checkpoint.write_text(json.dumps({**state, "finished": False}))
    for leftover in path.parent.iterdir():
        leftover.unlink()
    rerun = run_abby("db", "copy", "--to", f"sqlite:///{path}", "--json", env=env)
    assert rerun.exit_code == 0, rerun.output
    assert not any(d["skipped"] for d in rerun.json()["domains"])
    _assert_same(ctx, f"sqlite:///{path}", tmp_path)
