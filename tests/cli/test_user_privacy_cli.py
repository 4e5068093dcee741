"""`abby user export` and `abby user forget` on both backends: output, guards and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.context import AppContext
from tests.conftest import Cli
from tests.contracts.test_member_data import populate


@pytest.fixture
def member(cli: Cli, backend_env: dict[str, str], context: AppContext) -> AppContext:
    assert cli("keys", "generate", "--write").exit_code == 0
    populate(context)
    return context


def test_export_prints_one_json_document_with_the_decrypted_session(
    cli: Cli, member: AppContext
) -> None:
    result = cli("user", "export", "u1")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["user_id"] == "u1"
    assert doc["sessions"][0]["messages"][0]["content"] == "my very private question"


def test_export_to_a_file_is_owner_only(cli: Cli, member: AppContext, tmp_path: Path) -> None:
    target = tmp_path / "out" / "u1.json"
    target.parent.mkdir(exist_ok=True)
    target.parent.mkdir(exist_ok=True)  # -o never creates folders (exit 3)
    result = cli("user", "export", "u1", "--guild", "g1", "-o", str(target), "--json")
    assert result.exit_code == 0, result.output
    assert result.json() == {"user_id": "u1", "written": str(target)}
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p["guild_id"] for p in json.loads(target.read_text())["profiles"]] == ["g1"]


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (("user", "export", "nobody"), 3, "nothing is held about user nobody"),
        (("user", "forget", "nobody", "--yes"), 3, "nothing is held about user nobody"),
        (("user", "forget", "u1"), 2, "without --yes"),
        (("user", "forget", "bad id!", "--yes"), 2, "not valid"),
    ],
)
def test_bad_input_is_one_line_with_its_exit_code_and_changes_nothing(
    cli: Cli, member: AppContext, args: tuple[str, ...], code: int, needle: str
) -> None:
    result = cli(*args)
    assert result.exit_code == code, result.output
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert member.users.get("u1") is not None


def test_forget_dry_run_then_forget_then_export_is_unknown(cli: Cli, member: AppContext) -> None:
    planned = cli("user", "forget", "u1", "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    assert planned.json()["dry_run"] is True and planned.json()["files"] == 1
    assert member.users.get("u1") is not None
    done = cli("user", "forget", "u1", "--yes", "--json")
    assert done.exit_code == 0, done.output
    report = done.json()
    assert report["messages"] == 2 and report["pseudonym"].startswith("forgotten-")
    assert cli("user", "export", "u1").exit_code == 3
    audit = cli("bank", "audit", "--json")
    assert audit.exit_code == 0, audit.output
