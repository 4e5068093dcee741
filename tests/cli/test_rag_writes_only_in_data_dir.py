"""The knowledge base writes nothing outside the data dir (no home-directory caches)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_abby


@pytest.mark.slow
def test_ingest_and_query_leave_the_home_directory_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "levels.md").write_text("# Levels\n\nYou level up by chatting in the server.\n")
    env = {"HOME": str(home), "ABBY_DATA_DIR": str(tmp_path / "data")}
    ingest = run_abby("rag", "ingest", str(docs), "--json", env=env)
    assert ingest.exit_code == 0, ingest.output
    query = run_abby("rag", "query", "how do I level up?", "--json", env=env)
    assert query.exit_code == 0, query.output
    assert query.json()[0]["title"] == "Levels"
    assert [p for p in home.rglob("*")] == []
