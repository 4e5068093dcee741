"""A store built by the per-batch int8 model migrates to the per-row default (#12), both
backends: it keeps answering, says it wants a reindex, and `reindex` rebuilds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.context import AppContext
from core.rag.embedding import LOCAL_DEFAULT_MODEL, LOCAL_INT8_MODEL_NAME
from core.scope import Scope
from tests.conftest import Backend

PAGES = {
    "sort.md": "# sort\n\nsort - order the lines of text files.\n\n"
    "Use -n to compare numbers and -r to reverse the order. " * 3,
    "cp.md": "# cp\n\ncp - copy files and folders.\n\n"
    "Use -r to copy folders with everything inside them. " * 3,
    "wc.md": "# wc\n\nwc - count lines, words and bytes.\n\n"
    "Use -l to count only the lines of each file. " * 3,
}


@pytest.mark.slow
def test_an_int8pc_store_answers_then_reindexes_to_the_row_model(
    backend: Backend, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in PAGES.items():
        (docs / name).write_text(text, encoding="utf-8")
    old = AppContext(backend.settings(embeddings={"model": LOCAL_INT8_MODEL_NAME}))
    try:
        old.rag.ingest_paths([docs], guild_id="g1")
    finally:
        old.close()

    context = AppContext(backend.settings())  # the default model now
    try:
        rag = context.rag
        assert context.settings.embeddings.model == LOCAL_DEFAULT_MODEL != LOCAL_INT8_MODEL_NAME
        status = rag.index_status()
        assert (status.current, status.outdated_model) == (False, 3)
        assert rag.query("count the lines of a file", guild_id="g1", top_k=1)[0].title == "wc"
        result = rag.reindex()
        assert (result["from_model"], result["to_model"]) == (
            LOCAL_INT8_MODEL_NAME,
            "all-MiniLM-L6-v2-int8row",
        )
        assert {r.embedding_model for r in rag.list(Scope.of("g1"))} == {LOCAL_DEFAULT_MODEL}
        assert rag.index_status().current and rag.verify().ok
        assert rag.query("copy a folder", guild_id="g1", top_k=1)[0].title == "cp"
    finally:
        context.close()
