"""`abby rag` as an operator uses it: JSON shapes, tables, exit codes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, Cli, run_abby
from tests.core.rag_support import blank_pdf, write


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write(
        tmp_path / "docs",
        {
            "bank.md": "# Bank\n\nTransfers move coins exactly once, even when retried.",
            "keys.md": "# Keys\n\nRotate encryption keys with abby keys rotate.",
            "notes.txt": "Meetings happen every Friday evening in the voice channel.",
        },
    )


@pytest.mark.slow
def test_ingest_query_list_delete_round_trip(cli, backend_env, docs: Path) -> None:  # noqa: ANN001
    result = cli("rag", "ingest", str(docs), "--guild", "g1", "--tags", "help,faq", "--json")
    assert result.exit_code == 0, result.output
    report = result.json()
    assert set(report) == {
        "documents",
        "added",
        "updated",
        "unchanged",
        "removed",
        "chunks",
        "skipped",
        "seconds",
        "reindex_needed",
    }
    assert report["reindex_needed"] == ""
    assert (report["documents"], report["added"], report["chunks"]) == (3, 3, 3)

    again = cli("rag", "ingest", str(docs), "--guild", "g1", "--tags", "faq,help", "--json")
    assert (again.json()["unchanged"], again.json()["chunks"]) == (3, 0)

    found = cli("rag", "query", "how do I rotate keys", "--guild", "g1", "--top-k", "2", "--json")
    assert found.exit_code == 0, found.output
    results = found.json()
    assert len(results) == 2 and results[0]["title"] == "Keys"
    assert set(results[0]) >= {"text", "score", "doc_id", "title", "source", "chunk", "guild_id"}
    assert results[0]["guild_id"] == "g1"
    assert cli("rag", "query", "how do I rotate keys", "--guild", "g2", "--json").json() == []

    listed = cli("rag", "list", "--guild", "g1", "--json").json()
    assert sorted(d["title"] for d in listed) == ["Bank", "Keys", "notes"]
    assert listed[0]["tags"] == ["faq", "help"]

    doc_id = results[0]["doc_id"]
    refused = cli("rag", "delete", doc_id, "--guild", "g2", "--yes")
    assert refused.exit_code == 3 and "no document" in refused.stderr
    no_yes = cli("rag", "delete", doc_id, "--json")
    assert no_yes.exit_code == 2 and "--yes" in no_yes.json()["error"]["message"]
    dry = cli("rag", "delete", doc_id, "--dry-run", "--json")
    assert dry.json()["dry_run"] is True
    deleted = cli("rag", "delete", doc_id, "--guild", "g1", "--yes", "--json")
    assert deleted.exit_code == 0 and deleted.json()["deleted"] is True
    assert cli("rag", "delete", doc_id, "--yes").exit_code == 3

    stats = cli("rag", "stats", "--json").json()
    assert (stats["documents"], stats["vectors"], stats["embedding_model"]) == (
        2,
        2,
        "all-MiniLM-L6-v2-int8row",
    )
    verified = cli("rag", "verify", "--json")
    assert verified.exit_code == 0 and verified.json()["ok"] is True


def test_query_table_shows_score_title_source_and_snippet(cli, tmp_path: Path, docs: Path) -> None:  # noqa: ANN001
    cli("rag", "ingest", str(docs))
    result = cli("rag", "query", "when are the meetings")
    assert result.exit_code == 0, result.output
    for piece in ("score", "title", "source", "snippet", "notes", "Friday"):
        assert piece in result.stdout


def test_prune_removes_vanished_files(cli, docs: Path) -> None:  # noqa: ANN001
    cli("rag", "ingest", str(docs))
    (docs / "notes.txt").unlink()
    report = cli("rag", "ingest", str(docs), "--prune", "--json").json()
    assert (report["removed"], report["unchanged"]) == (1, 2)


@pytest.mark.parametrize(
    "setup,args,code,message",
    [
        (None, ["rag", "ingest", "missing-dir"], 3, "does not exist"),
        ({"a.py": "x = 1"}, ["rag", "ingest", "{root}"], 2, "no supported files"),
        ({"empty.md": ""}, ["rag", "ingest", "{root}/empty.md"], 2, "empty file"),
        ({"fake.md": b"\x00\x01\x02binary"}, ["rag", "ingest", "{root}"], 2, "binary"),
        ({"scan.pdf": "PDF"}, ["rag", "ingest", "{root}"], 2, "no text layer"),
        (None, ["rag", "query", "x" * 10_000], 2, "the limit is 2,000"),
        (None, ["rag", "query", "ok", "--top-k", "0"], 2, "top_k"),
        (None, ["rag", "delete", "0123456789abcdef0123456789abcdef", "--yes"], 3, "no document"),
        (None, ["rag", "eval", "nope.jsonl"], 3, "does not exist"),
    ],
)
def test_bad_input_gives_one_clear_line_and_the_exit_code(
    cli: Cli,
    tmp_path: Path,
    setup: dict[str, str | bytes] | None,
    args: list[str],
    code: int,
    message,  # noqa: ANN001
) -> None:
    root = tmp_path / "input"
    root.mkdir()
    for name, content in (setup or {}).items():
        content = blank_pdf() if content == "PDF" else content
        path = root / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    assert cli("db", "init").exit_code == 0  # bad input on a set-up, not a missing one
    result = cli(*[a.replace("{root}", str(root)) for a in args])
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.stderr


def test_an_unreadable_file_is_skipped_with_a_reason(cli, tmp_path: Path) -> None:  # noqa: ANN001
    """As root a chmod 000 file stays readable, so the unreadable entry is a broken link."""
    root = write(tmp_path / "docs", {"ok.md": "# Fine\n\nReadable."})
    (root / "locked.md").symlink_to(root / "gone.md")
    report = cli("rag", "ingest", str(root), "--json").json()
    assert report["added"] == 1
    assert {"path": str(root / "locked.md"), "reason": "unreadable: broken symbolic link"} in (
        report["skipped"]
    )


def test_eval_reports_recall_and_mrr(cli, tmp_path: Path, docs: Path) -> None:  # noqa: ANN001
    cli("rag", "ingest", str(docs))
    cases = tmp_path / "eval.jsonl"
    cases.write_text(
        "\n".join(
            json.dumps(c)
            for c in [
                {"query": "rotating encryption keys", "expected": "keys.md"},
                {"query": "coins transfers retried", "expected": "Bank"},
                {"query": "Friday voice meetings", "expected": "notes.txt"},
                {"query": "Friday voice meetings", "expected": "no-such-doc"},
            ]
        )
    )
    result = cli("rag", "eval", str(cases), "--k", "1", "--json")
    assert result.exit_code == 0, result.output
    report = result.json()
    assert (report["recall_at_k"], report["mrr"], report["k"], report["n"]) == (0.75, 0.75, 1, 4)
    assert [m["expected"] for m in report["misses"]] == ["no-such-doc"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q"}\n')
    broken = cli("rag", "eval", str(bad))
    assert broken.exit_code == 2 and "bad.jsonl:1" in broken.stderr


@pytest.mark.slow
def test_the_docs_folder_answers_its_eval_questions(cli) -> None:  # noqa: ANN001
    """The quick start of the README: ingest ./docs, then its eval file finds its answers."""
    assert cli("rag", "ingest", str(ROOT / "docs")).exit_code == 0
    report = cli("rag", "eval", str(ROOT / "docs" / "eval.jsonl"), "--json").json()
    assert report["n"] >= 25
    assert report["recall_at_k"] >= 0.9, report["misses"]


@pytest.mark.slow
def test_query_runs_as_a_separate_process(tmp_path: Path, docs: Path) -> None:
    env = {"ABBY_DATA_DIR": str(tmp_path / "data")}
    assert run_abby("rag", "ingest", str(docs), env=env).exit_code == 0
    result = run_abby("rag", "query", "rotate keys", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["title"] == "Keys"


def test_skipped_files_are_listed_and_the_rest_ingested_with_exit_0(cli, tmp_path: Path) -> None:  # noqa: ANN001
    """Issue #9: one bad file never aborts an ingest, and the operator is told about it."""
    root = write(
        tmp_path / "docs",
        {
            "good.md": "# Good\n\nThe only readable document.",
            "broken.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n",
        },
    )
    (root / "outside.md").symlink_to(write(tmp_path / "private", {"s.md": "secret"}) / "s.md")
    result = cli("rag", "ingest", str(root))
    assert result.exit_code == 0, result.output
    assert "broken.pdf" in result.stdout and "unreadable PDF" in result.stdout
    assert "outside.md" in result.stdout and "not followed" in result.stdout
    assert "2 file(s) skipped" in result.stderr


def test_ingesting_the_data_dir_itself_is_refused_in_one_line(
    cli,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("ABBY_DATA_DIR", str(data))
    (data / "logs").mkdir(parents=True)
    (data / "logs" / "abby.log").write_text("a log line")
    for target in (data, data / "logs" / "abby.log"):
        result = cli("rag", "ingest", str(target))
        assert result.exit_code == 2, result.output
        assert "Abby's own data" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.output
