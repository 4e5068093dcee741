"""The knowledge base against a real Chroma server (`chroma run`) through HttpClient."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import load_settings
from core.context import AppContext
from core.errors import ServiceUnavailable

CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMA.exists() and not shutil.which("chroma"):
        pytest.skip("the chroma command is not installed")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    process = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("chroma run did not start listening within 30 s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _context(tmp_path: Path, url: str, collection: str) -> AppContext:
    return AppContext(
        load_settings(
            environ={
                "ABBY_DATA_DIR": str(tmp_path / "data"),
                "ABBY_RAG__CHROMA_URL": url,
                "ABBY_RAG__COLLECTION": collection,
            }
        )
    )


@pytest.mark.slow
def test_ingest_query_and_delete_through_a_chroma_server(chroma_url: str, tmp_path: Path) -> None:
    context = _context(tmp_path, chroma_url, "server-test")
    rag = context.rag
    doc = rag.ingest_text("a", "Falcon", "Project Falcon launches at dawn.", guild_id="ga")
    rag.ingest_text("b", "Garden", "The garden club meets on Fridays.", guild_id="gb")
    assert rag.query("when does Falcon launch", guild_id="ga")[0].doc_id == doc.doc_id
    assert all(r.guild_id != "ga" for r in rag.query("Falcon launch", guild_id="gb", min_score=-1))
    assert rag.stats()["store"] == chroma_url
    assert not (tmp_path / "data" / "chroma").exists()  # nothing embedded on disk
    rag.delete(doc.doc_id)
    assert rag.query("when does Falcon launch", guild_id="ga") == []
    assert rag.verify().ok
    context.close()


@pytest.mark.slow
def test_an_unreachable_chroma_server_is_a_temporary_failure(tmp_path: Path) -> None:
    context = _context(tmp_path, f"http://127.0.0.1:{_free_port()}", "nowhere")
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        context.rag.query("anything")
    context.close()
