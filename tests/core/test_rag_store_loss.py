"""Issue #9, finding 8 (the RAG half): a repair never finishes a loss, and a deleted or
emptied Chroma store is reported by verify, refused by query and healed by re-ingest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.errors import ConfigError, Refused
from core.rag.service import RagService
from tests.conftest import run_abby
from tests.core.rag_support import CountingEmbedder, embedder, rag, write

__all__ = ["embedder", "rag"]  # fixtures


def _docs(root: Path) -> Path:
    return write(
        root,
        {
            "bank.md": "# Bank\n\nTransfers move coins exactly once, even when retried.",
            "keys.md": "# Keys\n\nRotate encryption keys with abby keys rotate.",
            "owls.md": "# Owls\n\nOwls deliver the guild mail at dawn.",
        },
    )


@pytest.mark.slow
def test_repair_refuses_to_delete_most_of_the_store_without_force(
    cli,  # noqa: ANN001 - the CLI runner fixture
    backend_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """An emptied database makes every vector an orphan; repair must not delete them all."""
    from core.config import load_settings
    from core.context import AppContext

    assert cli("rag", "ingest", str(_docs(tmp_path / "docs"))).exit_code == 0
    context = AppContext(load_settings(environ=backend_env))
    try:
        records = context.rag.list()
        context.rag.repo.delete([r.doc_id for r in records])  # the records are gone
    finally:
        context.close()

    refused = cli("rag", "verify", "--repair", "--yes")
    assert refused.exit_code == 4, refused.output
    assert "repair refused" in refused.stderr and "--force" in refused.stderr
    assert "3 of 3 vectors" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.output
    assert cli("rag", "stats", "--json").json()["vectors"] == 3  # nothing was deleted

    as_json = cli("rag", "verify", "--repair", "--yes", "--json")
    assert as_json.exit_code == 4 and as_json.json()["error"]["code"] == "refused"

    forced = cli("rag", "verify", "--repair", "--yes", "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert forced.json()["repaired"] is True
    assert cli("rag", "stats", "--json").json()["vectors"] == 0


def test_a_small_repair_still_runs_without_force(rag: RagService, tmp_path: Path) -> None:
    rag.ingest_paths([_docs(tmp_path / "docs")])
    (first, *_) = rag.list()
    rag.repo.delete([first.doc_id])  # one orphan document out of three
    report = rag.verify(repair=True)
    assert report.repaired and [p.kind for p in report.problems] == ["orphan_vectors"]
    assert rag.verify().ok and rag.stats()["vectors"] == 2


@pytest.mark.slow
def test_an_emptied_store_is_reported_refused_by_query_and_healed_by_reingest(
    rag: RagService, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    docs = _docs(tmp_path / "docs")
    rag.ingest_paths([docs])
    records = rag.list()
    rag.store.delete_documents([r.doc_id for r in records])  # the vectors are gone

    report = rag.verify()
    assert not report.ok and report.problems[0].kind == "store_empty"
    assert "3 documents are recorded" in report.problems[0].detail
    with pytest.raises(ConfigError, match="holds no vectors but 3 documents"):
        rag.query("who delivers the mail")
    with pytest.raises(Refused, match="repair refused"):
        rag.verify(repair=True)
    assert len(rag.list()) == 3  # the refusal changed nothing

    embedded = embedder.texts
    again = rag.ingest_paths([docs])
    assert (again.updated, again.unchanged, again.chunks) == (3, 0, 3)
    assert embedder.texts - embedded == 3
    assert rag.verify().ok
    assert rag.query("who delivers the mail")[0].title == "Owls"


@pytest.mark.slow
def test_a_document_whose_vectors_vanished_alone_is_embedded_again(
    rag: RagService, tmp_path: Path
) -> None:
    docs = _docs(tmp_path / "docs")
    rag.ingest_paths([docs])
    owls = next(r for r in rag.list() if r.title == "Owls")
    rag.store.delete_documents([owls.doc_id])
    again = rag.ingest_paths([docs])
    assert (again.updated, again.unchanged, again.chunks) == (1, 2, 1)
    assert rag.verify().ok


def test_an_empty_answer_from_a_healthy_store_is_still_an_empty_answer(
    rag: RagService, tmp_path: Path
) -> None:
    """Another guild's documents exist, so nothing matching for this guild is no error."""
    rag.ingest_paths([_docs(tmp_path / "docs")], guild_id="g1")
    assert rag.query("who delivers the mail", guild_id="g2") == []


@pytest.mark.slow
def test_a_deleted_chroma_folder_is_reported_and_healed_by_reingest(tmp_path: Path) -> None:
    """Separate processes, as an operator meets it: rm -r chroma/, then verify, query, ingest."""
    data = tmp_path / "data"
    env = {"ABBY_DATA_DIR": str(data)}
    docs = _docs(tmp_path / "docs")
    assert run_abby("rag", "ingest", str(docs), env=env).exit_code == 0
    shutil.rmtree(data / "chroma")

    verified = run_abby("rag", "verify", "--json", env=env)
    assert verified.exit_code == 4, verified.output
    report = json.loads(verified.stdout)
    assert report["ok"] is False and report["problems"][0]["kind"] == "store_missing"
    assert not (data / "chroma").exists()  # checking did not recreate an empty store

    query = run_abby("rag", "query", "who delivers the mail", env=env)
    assert query.exit_code == 78, query.output
    assert "holds no vectors but 3 documents" in query.stderr
    assert len(query.stderr.strip().splitlines()) == 1, query.output

    refused = run_abby("rag", "verify", "--repair", "--yes", env=env)
    assert refused.exit_code == 4 and "repair refused" in refused.stderr, refused.output

    healed = run_abby("rag", "ingest", str(docs), "--json", env=env)
    assert healed.exit_code == 0, healed.output
    assert json.loads(healed.stdout)["updated"] == 3
    found = run_abby("rag", "query", "who delivers the mail", "--json", env=env)
    assert json.loads(found.stdout)[0]["title"] == "Owls", found.output
    assert run_abby("rag", "verify", env=env).exit_code == 0
