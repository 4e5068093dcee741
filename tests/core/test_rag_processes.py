"""RAG across processes: a running reader sees another process's deletes and adds, and a
writer killed between the vector write and the record write is detected and repaired."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.context import AppContext
from core.scope import Scope
from tests.conftest import ROOT


def _spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    full.update(env, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.rag_worker", *args],
        cwd=ROOT,
        env=full,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _ask(worker: subprocess.Popen[str], text: str) -> list[str]:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(f"query {text}\n")
    worker.stdin.flush()
    return json.loads(worker.stdout.readline())


@pytest.mark.slow
def test_a_running_reader_sees_deletes_and_adds_made_by_another_process(
    context: AppContext, backend_env: dict[str, str]
) -> None:
    rag = context.rag
    doomed = rag.ingest_text(
        "doomed", "Doomed", "The dragon sleeps under the mountain.", guild_id="g"
    )
    rag.ingest_text("kept", "Kept", "The dragon guards a pile of gold coins.", guild_id="g")
    worker = _spawn(backend_env, "reader")
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        assert sorted(_ask(worker, "where does the dragon sleep")) == ["doomed", "kept"]

        rag.delete(doomed.doc_id)
        assert _ask(worker, "where does the dragon sleep") == ["kept"]

        rag.ingest_text("new", "New", "A second dragon arrived at dawn.", guild_id="g")
        assert sorted(_ask(worker, "dragon")) == ["kept", "new"]
    finally:
        assert worker.stdin is not None
        worker.stdin.write("exit\n")
        worker.stdin.flush()
        worker.wait(timeout=60)


@pytest.mark.slow
def test_a_crash_after_the_vector_write_is_completed_by_repair(
    context: AppContext, backend_env: dict[str, str]
) -> None:
    worker = _spawn(backend_env, "crash", "after_vectors", "crashed", "Owls deliver the mail.")
    assert worker.wait(timeout=120) == 137
    rag = context.rag
    (record,) = rag.list(Scope.of("g"))
    assert record.state == "pending"
    report = rag.verify()
    assert not report.ok and [p.kind for p in report.problems] == ["pending"]
    assert "after its chunks" in report.problems[0].detail
    repaired = rag.verify(repair=True)
    assert repaired.repaired and repaired.problems[0].action == "marked ready"
    assert rag.verify().ok
    assert rag.get(record.doc_id).state == "ready"
    assert rag.query("who delivers the mail", guild_id="g")[0].source == "crashed"


@pytest.mark.slow
def test_a_crash_before_the_vector_write_is_removed_by_repair_and_reingest_works(
    context: AppContext, backend_env: dict[str, str]
) -> None:
    rag = context.rag
    first = rag.ingest_text("doc", "Doc", "Version one of the tale.", guild_id="g")
    worker = _spawn(backend_env, "crash", "before_vectors", "doc", "Version two of the tale.")
    assert worker.wait(timeout=120) == 137
    report = rag.verify()
    assert [(p.doc_id, p.kind) for p in report.problems] == [(first.doc_id, "pending")]
    assert "0 of 1 chunks" in report.problems[0].detail
    rag.verify(repair=True)
    assert rag.verify().ok and rag.list(Scope.of("g")) == []
    again = rag.ingest_text("doc", "Doc", "Version two of the tale.", guild_id="g")
    assert (again.doc_id, again.status) == (first.doc_id, "added")
    assert rag.query("the tale", guild_id="g")[0].text == "Version two of the tale."


@pytest.mark.slow
def test_an_interrupted_document_is_rewritten_by_the_next_ingest_without_repair(
    context: AppContext, backend_env: dict[str, str]
) -> None:
    worker = _spawn(backend_env, "crash", "before_vectors", "doc", "Bees make honey.")
    assert worker.wait(timeout=120) == 137
    result = context.rag.ingest_text("doc", "doc", "Bees make honey.", guild_id="g")
    assert result.status == "updated"  # a pending record is never taken as unchanged
    assert context.rag.verify().ok
