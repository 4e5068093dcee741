"""Output by result type: every refusal under --json is one document holding the error object
(beside the report that explains it) with the documented exit code, and a result type with
no view is a clear internal error, never a silent guess."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from abby_cli import output, render, runtime
from core.context import AppContext
from core.errors import ExitCode
from tests.cli.test_economy_cli import _tamper
from tests.conftest import Cli


@pytest.fixture
def abby(cli: Cli, backend_env: dict[str, str], context: AppContext) -> Cli:
    assert cli("db", "init").exit_code == 0  # readers never create a store
    return cli


def test_a_failing_bank_audit_under_json_is_the_report_with_the_error_object(
    abby: Cli, backend_env: dict[str, str]
) -> None:
    assert abby("bank", "add", "a", "100", "--reason", "seed", "--guild", "g").exit_code == 0
    _tamper(backend_env)
    broken = abby("bank", "audit", "--json")
    assert broken.exit_code == ExitCode.REFUSED, broken.output
    body = broken.json()  # exactly one document on stdout
    assert body["error"]["code"] == "audit_failed" and body["error"]["message"]
    assert body["ok"] is False and body["problems"]
    human = abby("bank", "audit")
    assert human.exit_code == ExitCode.REFUSED, human.output
    assert "audit FAILED" in human.stdout and "problem:" in human.stdout
    assert human.stderr.startswith("error: the books do not balance"), human.stderr


def test_a_rotation_that_leaves_records_behind_is_refused_with_the_error_object(
    cli: Cli, backend_env: dict[str, str], context: AppContext
) -> None:
    key_file = Path(backend_env["ABBY_DATA_DIR"]) / "keys"
    old = cli("keys", "generate", "--write", "--json").json()["id"]
    session = context.sessions.create("u1", "c1", "g1")
    context.sessions.append_many(session, [("user", "a"), ("assistant", "b")])
    assert cli("keys", "generate", "--write").exit_code == 0
    # The old key leaves the ring behind the service's back: its records cannot be rotated.
    lines = [line for line in key_file.read_text().splitlines() if not line.startswith(old)]
    key_file.write_text("\n".join(lines) + "\n")
    refused = cli("keys", "rotate", "--yes", "--json")
    assert refused.exit_code == ExitCode.REFUSED, refused.output
    body = refused.json()
    assert body["error"]["code"] == "rotation_incomplete", body
    assert body["unknown_key"] == 2 and body["rotated"] == 0
    human = cli("keys", "rotate", "--yes")
    assert human.exit_code == ExitCode.REFUSED and "2 record(s)" in human.stderr, human.output


def test_a_retire_refused_under_json_is_the_error_object(
    cli: Cli, backend_env: dict[str, str], context: AppContext
) -> None:
    old = cli("keys", "generate", "--write", "--json").json()["id"]
    context.sessions.append_many(context.sessions.create("u1", "c1", "g1"), [("user", "a")])
    cli("keys", "generate", "--write")
    refused = cli("keys", "retire", old, "--yes", "--json")
    assert refused.exit_code == ExitCode.REFUSED, refused.output
    assert refused.json()["error"]["code"] == "key_in_use"


def test_a_copy_with_conflicts_under_json_is_the_report_with_the_error_object(
    abby: Cli, context: AppContext, tmp_path: Path
) -> None:
    context.bank.add("u1", 10, reason="seed", guild_id="g1")
    target = f"sqlite:///{tmp_path / 'copy' / 'abby.db'}"
    assert abby("db", "copy", "--to", target).exit_code == 0
    context.bank.add("u1", 5, reason="after the copy", guild_id="g1")
    refused = abby("db", "copy", "--to", target, "--json")  # not empty, no --merge: core refuses
    assert refused.exit_code == ExitCode.REFUSED, refused.output
    assert refused.json()["error"]["code"] == "copy_target_not_empty"
    merged = abby("db", "copy", "--to", target, "--merge", "--json")
    assert merged.exit_code == ExitCode.REFUSED, merged.output
    body = merged.json()
    assert body["error"]["code"] == "copy_incomplete" and body["ok"] is False
    assert any(d["conflicts"] for d in body["domains"])
    human = abby("db", "copy", "--to", target, "--merge")
    assert human.exit_code == ExitCode.REFUSED, human.output
    assert (
        "differ on the target" in human.stderr and "error: the copy is not complete" in human.stderr
    )


@pytest.mark.slow
def test_a_failing_rag_verify_under_json_is_the_report_with_the_error_object(
    abby: Cli, context: AppContext, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\n\nRotate encryption keys with abby keys rotate.")
    (docs / "b.md").write_text("# Beta\n\nTransfers move coins exactly once.")
    assert abby("rag", "ingest", str(docs)).exit_code == 0
    broken = abby("rag", "list", "--json").json()[0]["doc_id"]
    context.rag.store.delete_documents([broken])  # a crash lost one document's vectors
    report = abby("rag", "verify", "--json")
    assert report.exit_code == ExitCode.REFUSED, report.output
    body = report.json()
    assert body["error"]["code"] == "store_inconsistent"
    assert [p["doc_id"] for p in body["problems"]] == [broken] and body["repaired"] is False
    human = abby("rag", "verify")
    assert human.exit_code == ExitCode.REFUSED and "--repair" in human.stderr, human.output


@dataclass(frozen=True)
class _NewResult:
    value: int


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_result_type_without_a_view_is_an_internal_error_naming_it(json_mode: bool) -> None:
    runtime.reset()
    runtime.state.json = json_mode
    try:
        with pytest.raises(render.UnknownResult, match="_NewResult.*abby_cli/render.py"):
            output.show(_NewResult(1))
        with pytest.raises(render.UnknownResult, match=r"list\[_NewResult\]"):
            output.show([_NewResult(1)])
        with pytest.raises(render.UnknownResult, match="NoSuchRecord"):
            output.show([], kind="list[NoSuchRecord]")
    finally:
        runtime.reset()


def test_a_command_showing_an_unknown_type_exits_1_with_one_error_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import abby_cli.config

    monkeypatch.setattr(abby_cli.config.runtime, "settings", lambda: _NewResult(1))
    result = cli("config", "show", "--json")
    assert result.exit_code == ExitCode.FAILURE, result.output
    error = result.json()["error"]
    assert (
        error["code"] == "internal" and "no view for result type '_NewResult'" in error["message"]
    )
