"""`abby keys` as an operator meets it: key lines, status, rotate, retire, and clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.context import AppContext
from core.security import generate_key, key_id_of
from tests.conftest import Cli


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    monkeypatch.setenv("ABBY_DATA_DIR", str(path))
    return path


def test_generate_prints_a_key_line_and_writes_nothing(cli: Cli, data_dir: Path) -> None:
    result = cli("keys", "generate")
    assert result.exit_code == 0, result.output
    key_id, key = result.stdout.strip().split(":")
    assert key_id == key_id_of(key.encode())
    assert "secret" in result.stderr
    assert not (data_dir / "keys").exists()


def test_generate_json_without_write_refuses_to_print_key_material(
    cli: Cli, data_dir: Path
) -> None:
    result = cli("keys", "generate", "--json")
    assert result.exit_code == 2, result.output
    assert result.json()["error"]["code"] == "invalid_input"
    assert not (data_dir / "keys").exists()


def test_generate_write_creates_a_0600_file_newest_first_and_status_shows_ids_only(
    cli: Cli, data_dir: Path
) -> None:
    first = cli("keys", "generate", "--write", "--json").json()
    second = cli("keys", "generate", "--write", "--json").json()
    path = data_dir / "keys"
    assert (path.stat().st_mode & 0o777) == 0o600
    status = cli("keys", "status", "--json")
    assert status.exit_code == 0, status.output
    doc = status.json()
    assert [(k["id"], k["primary"], k["records"]) for k in doc["keys"]] == [
        (second["id"], True, 0),
        (first["id"], False, 0),
    ]
    materials = [line.split(":", 1)[1] for line in path.read_text().splitlines()[1:]]
    assert all(m not in status.stdout for m in materials)


def test_rotate_then_retire_through_the_cli(
    cli: Cli, backend_env: dict[str, str], context: AppContext
) -> None:
    data_dir = Path(backend_env["ABBY_DATA_DIR"])
    old = cli("keys", "generate", "--write", "--json").json()["id"]
    sid = context.sessions.create("u1", "c1", "g1")
    context.sessions.append_many(sid, [("user", "a"), ("assistant", "b")])
    new = cli("keys", "generate", "--write", "--json").json()["id"]

    refused = cli("keys", "retire", old, "--yes")
    assert refused.exit_code == 4, refused.output
    assert "2 record" in refused.stderr

    dry = cli("keys", "rotate", "--dry-run", "--json")
    assert dry.exit_code == 0 and dry.json()["to_rotate"] == 2, dry.output
    no_yes = cli("keys", "rotate")
    assert no_yes.exit_code == 2 and "--yes" in no_yes.stderr, no_yes.output
    assert context.keys.counts() == {old: 2}

    done = cli("keys", "rotate", "--yes", "--batch-size", "1", "--json")
    assert done.exit_code == 0 and done.json()["rotated"] == 2, done.output
    retired = cli("keys", "retire", old, "--yes", "--json")
    assert retired.exit_code == 0, retired.output
    assert retired.json() == {"id": old, "remaining": [new], "dry_run": False}
    events = [json.loads(line) for line in (data_dir / "telemetry" / "events.jsonl").open()]
    kinds = [e["type"] for e in events]
    assert "governance.keys.rotate" in kinds and "governance.keys.retire" in kinds
    rotations = [e for e in events if e["type"] == "governance.keys.rotate"]
    rotate_event = next(e for e in rotations if not e["payload"]["dry_run"])
    assert rotate_event["payload"]["rotated"] == 2 and rotate_event["payload"]["via"] == "cli"
    assert rotate_event["payload"]["actor"]


def test_keys_from_the_environment_cannot_be_edited_by_the_cli(
    cli: Cli, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = generate_key().decode(), generate_key().decode()
    monkeypatch.setenv("ABBY_ENCRYPTION_KEYS", f"{a},{b}")
    assert cli("db", "init").exit_code == 0  # `keys status` reads a set-up store
    status = cli("keys", "status", "--json")
    assert status.exit_code == 0 and len(status.json()["keys"]) == 2, status.output
    assert a not in status.stdout and b not in status.stdout
    retire = cli("keys", "retire", key_id_of(b.encode()), "--yes")
    assert retire.exit_code == 78 and "ABBY_ENCRYPTION_KEYS" in retire.stderr, retire.output
    write = cli("keys", "generate", "--write")
    assert write.exit_code == 78, write.output
    assert not (data_dir / "keys").exists()


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("none", "abby keys generate --write"),
        ("mode-0644", "chmod 600"),
        ("malformed-env", "not a Fernet key"),
        ("malformed-file", "line 1"),
    ],
)
def test_bad_key_configuration_is_one_line_exit_78_and_changes_nothing(
    cli: Cli, data_dir: Path, monkeypatch: pytest.MonkeyPatch, setup: str, expected: str
) -> None:
    data_dir.mkdir(parents=True)
    assert cli("db", "init").exit_code == 0  # a set-up store whose keys are wrong
    path = data_dir / "keys"
    if setup == "mode-0644":
        path.write_text(generate_key().decode() + "\n")
        os.chmod(path, 0o644)
    elif setup == "malformed-env":
        monkeypatch.setenv("ABBY_ENCRYPTION_KEYS", "not-a-real-key-at-all")
    elif setup == "malformed-file":
        path.write_text("not-a-real-key-at-all\n")
        os.chmod(path, 0o600)
    before = path.read_bytes() if path.exists() else None
    for argv in (["keys", "rotate", "--yes"], ["session", "dump", "0" * 32]):
        result = cli(*argv)
        assert result.exit_code == 78, result.output
        assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "not-a-real-key" not in result.stderr
    assert (path.read_bytes() if path.exists() else None) == before
