"""`abby backup` / `abby restore` as commands: one JSON document, the key warning, exit codes."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from core.context import AppContext
from tests.conftest import Cli
from tests.contracts.test_member_data import populate


def test_backup_then_restore_through_the_cli(
    cli: Cli,
    backend_env: dict[str, str],
    context: AppContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli("keys", "generate", "--write").exit_code == 0
    populate(context)
    archive = tmp_path / "out" / "abby.tar"
    archive.parent.mkdir(exist_ok=True)
    made = cli("backup", "-o", str(archive), "--include-keys", "--json")
    assert made.exit_code == 0, made.output
    assert made.json()["counts"]["session_messages"] == 3
    assert "decrypt every session" in made.stderr
    assert "keys" in tarfile.open(archive).getnames()
    assert archive.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in archive.parent.iterdir()] == ["abby.tar"], "no temp file left"
    monkeypatch.setenv("ABBY_DATA_DIR", str(tmp_path / "fresh"))
    if "ABBY_DATABASE__NAME" in backend_env:
        monkeypatch.setenv("ABBY_DATABASE__NAME", backend_env["ABBY_DATABASE__NAME"] + "r")
    planned = cli("restore", str(archive), "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    assert planned.json()["dry_run"] is True and not (tmp_path / "fresh").exists()
    done = cli("restore", str(archive), "--json")
    assert done.exit_code == 0, done.output
    assert done.json()["audit_ok"] is True and done.json()["counts_match"] is True
    again = cli("restore", str(archive))  # now the target holds data: refused, exit 4
    assert again.exit_code == 4, again.output
    assert len(again.stderr.strip().splitlines()) == 1
