"""Issue #12: stores built before the new chunker or by another local model variant migrate.

The upgrade test builds a store with the code as it was before the change (`git archive` of
PREVIOUS_CODE, run in its own process), then opens it with today's: the store says it wants a
reindex, answers queries before and during `reindex` (a separate process queries while the
rebuild is half done), and after it every document is current and an unchanged re-ingest
embeds nothing. Both backends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import core.rag.migration as migration
from core.context import AppContext
from core.errors import ConfigError
from core.rag.chunking import chunk_document
from core.rag.embedding import LOCAL_INT8_MODEL_NAME, LOCAL_MODEL_NAME, LocalEmbedder
from core.rag.migration import chunker_of, reconstruct
from core.scope import Scope
from tests.conftest import Backend

ROOT = Path(__file__).resolve().parents[2]
# The last commit before issue #12's chunker (CHUNKER_VERSION 1, fp32 model, no line table).
PREVIOUS_CODE = "f5ccba9"
PAGES = {
    "sort.md": "# sort\n\nsort - order the lines of text files.\n\n## Options\n\n"
    "Use -n to compare numbers and -r to reverse the order. " * 3,
    "cp.md": "# cp\n\ncp - copy files and folders.\n\n## Options\n\n"
    "Use -r to copy folders with everything inside them. " * 3,
    "tail.md": "# tail\n\ntail - print the end of a file.\n\n## Options\n\n"
    "Use -f to keep printing lines as the file grows. " * 3,
    "wc.md": "# wc\n\nwc - count lines, words and bytes.\n\n## Options\n\n"
    "Use -l to count only the lines of each file. " * 3,
}
QUERY_SCRIPT = """
import json, sys
from core.config import load_settings
from core.context import AppContext
ctx = AppContext(load_settings(environ=json.loads(sys.argv[1])))
hits = ctx.rag.query(sys.argv[2], guild_id="g1", top_k=2)
print(json.dumps([h.title for h in hits]))
ctx.close()
"""


def _corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in PAGES.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def _previous_code(tmp_path: Path) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history to build a store with the previous code")
    target = tmp_path / "previous"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", PREVIOUS_CODE, "core"], capture_output=True
    )
    if archive.returncode != 0:
        pytest.skip(f"commit {PREVIOUS_CODE} is not in this checkout's history")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def _run(code: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    child.update(env, PYTHONPATH=str(code))
    return subprocess.run(
        [sys.executable, *args], env=child, cwd=code, capture_output=True, text=True, timeout=300
    )


def _build_with_previous_code(tmp_path: Path, backend: Backend, docs: Path) -> None:
    code = _previous_code(tmp_path)
    script = (
        "import json, sys\nfrom pathlib import Path\nfrom core.config import load_settings\n"
        "from core.context import AppContext\n"
        "ctx = AppContext(load_settings(environ=json.loads(sys.argv[1])))\n"
        "assert ctx.rag.ingest_paths([Path(sys.argv[2])], guild_id='g1').added == 4\n"
        "ctx.close()\n"
    )
    done = _run(code, backend.env, "-c", script, json.dumps(backend.env), str(docs))
    assert done.returncode == 0, done.stderr


def _query_elsewhere(backend: Backend, text: str) -> list[str]:
    done = _run(ROOT, backend.env, "-c", QUERY_SCRIPT, json.dumps(backend.env), text)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_a_store_built_by_the_previous_code_is_reindexed_while_it_keeps_answering(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _corpus(tmp_path / "docs")
    _build_with_previous_code(tmp_path, backend, docs)
    context = AppContext(backend.settings())
    try:
        rag = context.rag
        status = rag.index_status()
        assert not status.current and status.outdated_chunker == 4
        assert "older chunker" in rag.stats()["reindex_needed"]
        assert rag.query("count the lines of a file", guild_id="g1", top_k=1)[0].title == "wc"

        monkeypatch.setattr(migration, "DOCUMENTS_PER_STEP", 1)
        seen: list[tuple[int, int]] = []
        during: list[list[str]] = []

        def progress(done: int, total: int) -> None:
            seen.append((done, total))
            if len(seen) == 2:  # half rebuilt: another process still gets answers
                during.append(_query_elsewhere(backend, "keep printing a growing file"))

        result = rag.reindex(progress=progress)
        assert len(during) == 1 and during[0][0] == "tail"
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)
        assert seen[-1][0] == seen[-1][1] == result["chunks_before"]
        assert result["documents"] == 4 and "older chunker" in result["reason"]

        assert rag.index_status().current and rag.stats()["reindex_needed"] is None
        assert {chunker_of(r) for r in rag.list(Scope.of("g1"))} == {migration.CHUNKER_VERSION}
        assert rag.store.documents.count() == 4  # a document vector for each, built by it
        assert rag.verify().ok
        # The files were read back (their hash proved them unchanged), so re-ingest skips them.
        again = rag.ingest_paths([docs], guild_id="g1")
        assert (again.unchanged, again.chunks, again.reindex_needed) == (4, 0, "")
        assert _query_elsewhere(backend, "copy a folder with its contents")[0] == "cp"
    finally:
        context.close()


@pytest.mark.slow
def test_switching_to_the_int8_model_keeps_answering_until_reindexed(
    backend: Backend, tmp_path: Path
) -> None:
    docs = _corpus(tmp_path / "docs")
    fp32 = AppContext(backend.settings(embeddings={"model": LOCAL_MODEL_NAME}))
    try:
        fp32.rag.ingest_paths([docs], guild_id="g1")
    finally:
        fp32.close()
    context = AppContext(backend.settings(embeddings={"model": LOCAL_INT8_MODEL_NAME}))
    try:
        rag = context.rag
        status = rag.index_status()
        assert (status.current, status.outdated_model, status.outdated_chunker) == (False, 4, 0)
        assert rag.stats()["embedding_model"] == LOCAL_MODEL_NAME
        # Interchangeable vectors: the old store answers queries embedded by the new model.
        assert rag.query("count the lines of a file", guild_id="g1", top_k=1)[0].title == "wc"
        result = rag.reindex()
        assert (result["from_model"], result["to_model"]) == (
            LOCAL_MODEL_NAME,
            "all-MiniLM-L6-v2-int8pc",
        )
        assert rag.stats()["embedding_model"] == LOCAL_INT8_MODEL_NAME
        assert {r.embedding_model for r in rag.list(Scope.of("g1"))} == {LOCAL_INT8_MODEL_NAME}
        assert rag.index_status().current and rag.verify().ok
        assert rag.query("copy a folder", guild_id="g1", top_k=1)[0].title == "cp"
        models = sorted(p.name for p in (context.settings.data_dir / "models").iterdir())
        assert any("int8pc" in name for name in models)
        for name in models:
            assert (context.settings.data_dir / "models" / name).stat().st_mode & 0o077 == 0
    finally:
        context.close()


@pytest.mark.slow
def test_another_model_family_is_still_refused_until_reindexed(
    backend: Backend, tmp_path: Path
) -> None:
    docs = _corpus(tmp_path / "docs")
    first = AppContext(backend.settings())
    try:
        first.rag.ingest_paths([docs], guild_id="g1")
    finally:
        first.close()
    other = AppContext(backend.settings())
    try:
        rag = other.rag.with_embedder(_Renamed(LocalEmbedder()))
        with pytest.raises(ConfigError, match="reindex"):
            rag.query("count lines", guild_id="g1")
    finally:
        other.close()


class _Renamed:
    """The real model under a name outside the local family (as a remote model would be)."""

    model_name = "some-other-model"
    dimension = 384

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def test_reconstruct_removes_overlaps_and_restores_headings() -> None:
    count = LocalEmbedder().count_tokens
    sentences = [f"Sentence {i} says something about topic {i % 5}." for i in range(120)]
    text = "# Guide\n\n## Install\n\n" + " ".join(sentences[:60]) + "\n\n### Linux\n\n"
    text += " ".join(sentences[60:])
    chunks = chunk_document("Guide", text, count_tokens=count, chunk_tokens=80, overlap_tokens=20)
    assert len(chunks) > 4
    rows = [
        {"document": c.text, "metadata": {"heading": c.heading, "chunk": c.index}} for c in chunks
    ]
    rebuilt = reconstruct(rows)
    for sentence in sentences:
        assert rebuilt.count(sentence) == 1, sentence  # every sentence once: overlaps gone
    assert "## Install" in rebuilt and "### Linux" in rebuilt
    again = chunk_document("Guide", rebuilt, count_tokens=count, chunk_tokens=80, overlap_tokens=20)
    assert [c.heading for c in again][-1] == "Install › Linux"
