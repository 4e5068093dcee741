"""Export and import: every domain SQLite -> MongoDB -> SQLite, record by record.

Records are backend-neutral (core.db.records): the same data exported from either backend
reads the same, and an import is idempotent, reporting (never overwriting) a conflict.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.context import AppContext, open_database, repositories_of
from core.errors import InvalidInput
from tests.conftest import BACKENDS
from tests.support.mobility import populate, snapshot


@pytest.fixture
def source(tmp_path: Path) -> Iterator[AppContext]:
    ctx = AppContext(load_settings(environ={"ABBY_DATA_DIR": str(tmp_path / "source")}))
    populate(ctx)
    yield ctx
    ctx.close()


def _settings(tmp_path: Path) -> Settings:
    name = f"t{uuid.uuid4().hex[:16]}"
    env = {"ABBY_DATA_DIR": str(tmp_path / "x"), "ABBY_DATABASE__NAME": name}
    return load_settings(environ=env)


@pytest.fixture
def mongo_target(mongo_uri: str, tmp_path: Path) -> Iterator[object]:
    settings = _settings(tmp_path)
    db = open_database(mongo_uri, settings)
    yield db
    db.client.drop_database(db.db.name)
    db.close()


def _same(left: list[dict], right: list[dict]) -> bool:
    # Record by record; ledger rows written in the same millisecond may come in either order.
    return sorted(left, key=json.dumps) == sorted(right, key=json.dumps)


def _copy(source: dict[str, list[dict]], target_db: object) -> dict[str, dict]:
    repos = repositories_of(target_db)  # type: ignore[arg-type]
    return {d: repos[d].import_(records).to_dict() for d, records in source.items()}


@pytest.mark.slow
def test_every_domain_round_trips_sqlite_to_mongodb_to_sqlite_identically(
    source: AppContext, mongo_target: object, tmp_path: Path
) -> None:
    original = snapshot(source)
    assert all(original.values()), {d: len(r) for d, r in original.items()}
    kinds = {r["record"] for records in original.values() for r in records}
    assert kinds >= {
        "users", "xp", "xp_settings", "bank_transfers", "bank_ledger", "bank_accounts",
        "sessions", "session_messages", "storage_files", "quota_daily", "rag_documents",
        "bot_guild_settings", "rag_lines",
    }  # fmt: skip

    into_mongo = _copy(original, mongo_target)
    assert {d: r["inserted"] for d, r in into_mongo.items()} == {
        d: len(r) for d, r in original.items()
    }
    via_mongo = {d: list(repo.export()) for d, repo in repositories_of(mongo_target).items()}
    for domain in original:
        assert _same(via_mongo[domain], original[domain]), domain

    back = open_database(f"sqlite:///{tmp_path / 'back' / 'abby.db'}", _settings(tmp_path))
    _copy(via_mongo, back)
    again = {d: list(repo.export()) for d, repo in repositories_of(back).items()}
    back.close()
    for domain in original:
        assert _same(again[domain], original[domain]), domain


def test_the_copy_serves_the_app_with_balanced_books_and_readable_sessions(
    source: AppContext, tmp_path: Path
) -> None:
    original = snapshot(source)
    target_dir = tmp_path / "target"
    target_dir.mkdir()
    # Sessions move as ciphertext: the target decrypts them with the same key ring.
    shutil.copy2(source.settings.key_file, target_dir / "keys")
    target = AppContext(load_settings(environ={"ABBY_DATA_DIR": str(target_dir)}))
    _copy(original, target.database)
    assert target.bank.audit().ok
    assert target.bank.balance("u1", guild_id="g1") == source.bank.balance("u1", guild_id="g1")
    assert target.xp.get("u3", guild_id="g1") == source.xp.get("u3", guild_id="g1")
    assert target.xp.settings_for("g1").curve == "power"
    assert target.moderation.access("g1") == source.moderation.access("g1")
    (closed,) = [s for s in target.sessions.list(user_id="u1") if s.status == "closed"]
    text = [m.content for m in target.sessions.transcript(closed.session_id).messages]
    assert text == ["secret question", "answer ✓"]
    assert target.quota.status("u1", guild_id="g1").daily.used == 1
    assert target.storage.usage().total_bytes == source.storage.usage().total_bytes
    target.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_reimport_changes_nothing_and_a_different_record_is_reported_not_overwritten(
    source: AppContext, tmp_path: Path, backend_name: str, request: pytest.FixtureRequest
) -> None:
    original = snapshot(source)
    if backend_name == "mongo":
        target = request.getfixturevalue("mongo_target")
    else:
        target = open_database(f"sqlite:///{tmp_path / 't' / 'abby.db'}", _settings(tmp_path))
    first = _copy(original, target)
    second = _copy(original, target)
    for domain, report in second.items():
        assert report == {
            "inserted": 0, "unchanged": first[domain]["inserted"], "conflicts": 0,
            "conflict_keys": [],
        }, domain  # fmt: skip

    bank = repositories_of(target)["bank"]  # type: ignore[arg-type]
    account = next(r for r in original["bank"] if r["record"] == "bank_accounts")
    forged = {**account, "balance": account["balance"] + 1_000_000}
    report = bank.import_([forged])
    assert (report.inserted, report.unchanged, report.conflicts) == (0, 0, 1)
    assert report.conflict_keys == [f"bank_accounts:{account['scope']}/{account['user_id']}"]
    stored = next(
        r for r in bank.export()
        if r["record"] == "bank_accounts" and r["user_id"] == account["user_id"]
        and r["scope"] == account["scope"]
    )  # fmt: skip
    assert stored["balance"] == account["balance"]


@pytest.mark.parametrize(
    "record, message",
    [
        ({"record": "users", "v": 99, "user_id": "u", "scope": ""}, "schema version 99"),
        ({"record": "nonsense", "v": 1}, "unknown record type"),
        ({"record": "users", "v": 1, "scope": ""}, "lacks its key field 'user_id'"),
        ({"record": "users", "v": 1, "user_id": "u", "scope": "", "username": 5,
          "created_at": "2026-01-01T00:00:00.000+00:00",
          "updated_at": "2026-01-01T00:00:00.000+00:00"}, "is not text"),
        ({"record": "users", "v": 1, "user_id": "u", "scope": "", "username": "x",
          "created_at": "yesterday", "updated_at": None}, "not an ISO timestamp"),
        (["users", 1], "must be an object"),
    ],
)  # fmt: skip
def test_a_record_this_version_cannot_read_is_refused_and_nothing_is_written(
    tmp_path: Path, record: object, message: str
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'abby.db'}", _settings(tmp_path))
    users = repositories_of(db)["users"]
    good = {"record": "users", "v": 1, "user_id": "first", "scope": "", "username": "x",
            "created_at": "2026-01-01T00:00:00.000+00:00",
            "updated_at": "2026-01-01T00:00:00.000+00:00"}  # fmt: skip
    with pytest.raises(InvalidInput, match=message):
        users.import_([good, record])
    assert list(users.export()) == []  # the batch in flight is rolled back whole
    db.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_a_record_holding_another_records_unique_path_is_a_conflict_not_a_second_file(
    source: AppContext, tmp_path: Path, backend_name: str, request: pytest.FixtureRequest
) -> None:
    """Keys are not the only identity: a file's path and a document's source are unique too."""
    if backend_name == "mongo":
        target = request.getfixturevalue("mongo_target")
    else:
        target = open_database(f"sqlite:///{tmp_path / 't' / 'abby.db'}", _settings(tmp_path))
    original = snapshot(source)
    _copy(original, target)
    files = repositories_of(target)["storage"]  # type: ignore[arg-type]
    first = original["storage"][0]
    twin = {**first, "file_id": "another-id"}
    report = files.import_([twin])
    assert (report.inserted, report.conflicts) == (0, 1), report
    assert report.conflict_keys == ["storage_files:another-id"]
    assert len(list(files.export())) == len(original["storage"])


def test_an_integer_past_64_bits_is_refused_on_both_backends(
    tmp_path: Path, mongo_target: object
) -> None:
    record = {"record": "bank_accounts", "v": 1, "scope": "", "user_id": "u", "balance": 2**63}
    sqlite = open_database(f"sqlite:///{tmp_path / 'abby.db'}", _settings(tmp_path))
    for db in (sqlite, mongo_target):
        bank = repositories_of(db)["bank"]  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="out of range"):
            bank.import_([record])
        assert list(bank.export()) == []
    sqlite.close()


def test_imported_times_are_stored_as_the_codecs_utc_stamp_and_export_unchanged(
    tmp_path: Path,
) -> None:
    """An import into SQLite writes the form the repositories write (core.db.codec.stamp),
    whatever offset the record's text used; the export gives the canonical text back."""
    from core.db.sqlite import SqliteDatabase

    db = SqliteDatabase(tmp_path / "target.db")
    repos = repositories_of(db)
    record = {
        "record": "storage_files", "v": 1, "file_id": "f" * 32, "user_id": "u1", "scope": "",
        "path": "u1/2026-03/f.png", "bytes": 3, "sha256": "0", "content_type": "image/png",
        "kept": False, "created_at": "2026-03-01T12:30:00.125+02:00", "metadata": {},
    }  # fmt: skip
    assert repos["storage"].import_([record]).inserted == 1
    stored = db.value("SELECT created_at FROM storage_files WHERE file_id = ?", ("f" * 32,))
    assert stored == "2026-03-01T10:30:00.125000+00:00"
    (exported,) = list(repos["storage"].export())
    assert exported == {**record, "created_at": "2026-03-01T10:30:00.125+00:00"}
    assert repos["storage"].import_([exported]).unchanged == 1
    db.close()
