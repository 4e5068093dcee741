"""`abby rag query --per-document/--passages` and `abby rag eval` with file-name sources."""

from __future__ import annotations

import json
from pathlib import Path

from tests.core.rag_support import write

PARTS = "\n\n".join(
    f"## Part {i}\n\nRefunds of coins are made within {i + 2} days when a purchase fails."
    for i in range(6)
)


def _docs(root: Path) -> Path:
    return write(
        root,
        {
            "refunds.md": "# Refund policy\n\n" + PARTS,
            "bank.md": "# Bank\n\nTransfers move coins exactly once, even when retried.",
            "keys.md": "# Keys\n\nRotate encryption keys with abby keys rotate.",
            "notes.txt": "Meetings happen every Friday evening in the voice channel.",
        },
    )


def test_query_ranks_by_source_unless_asked_for_passages(cli, backend_env, tmp_path) -> None:  # noqa: ANN001
    assert cli("rag", "ingest", str(_docs(tmp_path / "docs"))).exit_code == 0
    question = ["rag", "query", "when are coins refunded after a failed purchase", "-k", "3"]
    by_source = cli(*question, "--json").json()
    assert len({r["doc_id"] for r in by_source}) == len(by_source) == 3
    passages = cli(*question, "--passages", "--json").json()
    assert [r["title"] for r in passages] == ["Refund policy"] * 3
    two = cli(*question, "--per-document", "2", "--json").json()
    assert [r["title"] for r in two][:2] == ["Refund policy"] * 2
    bad = cli(*question, "--per-document", "0")
    assert bad.exit_code == 2 and "--per-document" in bad.stderr


def test_eval_matches_sources_by_file_name_and_reports_ndcg(cli, backend_env, tmp_path) -> None:  # noqa: ANN001
    assert cli("rag", "ingest", str(_docs(tmp_path / "docs"))).exit_code == 0
    cases = tmp_path / "eval.jsonl"
    cases.write_text(
        "\n".join(
            json.dumps(c)
            for c in [
                {"query": "rotating encryption keys", "source": "keys.md"},
                {"query": "Friday voice meetings", "source": ["notes.txt", "nothing.md"]},
                {"query": "Friday voice meetings", "source": "notes"},  # a name, not a part
            ]
        )
    )
    report = cli("rag", "eval", str(cases), "--k", "2", "--json").json()
    assert (report["recall_at_k"], report["mrr"], report["n"]) == (0.6667, 0.6667, 3)
    # keys.md at rank 1: 1.0; notes.txt at 1 of 2 relevant: 1 / (1 + 1/log2(3)); miss: 0.
    assert report["ndcg_at_k"] == round((1 + 1 / (1 + 1 / 1.5849625007)) / 3, 4)
    assert [m["expected"] for m in report["misses"]] == ["notes"]
    table = cli("rag", "eval", str(cases), "--k", "2")
    assert table.exit_code == 0 and "ndcg_at_k" in table.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q", "source": []}\n')
    broken = cli("rag", "eval", str(bad))
    assert broken.exit_code == 2 and "bad.jsonl:1" in broken.stderr
