"""Issue #9, findings 1 and 6: ingest reads only what it should, and one bad file never
aborts an ingest.

The PDFs are written byte by byte here (a flate bomb, a 300-page file, a page whose content
stream is slow to parse), so no binary is committed and each budget is hit on purpose.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.rag import loaders
from core.rag.service import RagService
from tests.conftest import ROOT, run_abby
from tests.core.rag_support import embedder, rag, write

__all__ = ["embedder", "rag"]  # fixtures

MIB = 1024 * 1024


def raw_pdf(contents: list[bytes]) -> bytes:
    """A PDF with one page per flate-compressed content stream, written by hand."""
    n = len(contents)
    font = 3 + 2 * n
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
    ]
    for i, stream in enumerate(contents):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(
            f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
            + stream
            + b"\nendstream"
        )
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.writelines(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def text_page(text: str) -> bytes:
    return zlib.compress(f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode(), 9)


def flate_bomb(megabytes: int = 300) -> bytes:
    """About 1 KB per MB: 300 MB of spaces compress to a ~300 KB PDF, as in the issue."""
    packer = zlib.compressobj(9)
    block = b" " * MIB
    return raw_pdf([b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()])


def slow_page_pdf() -> bytes:
    """One page of 4 MB of text operators: several seconds of pypdf's parser."""
    op = b"BT /F1 12 Tf 72 712 Td (abc) Tj ET\n"
    return raw_pdf([zlib.compress(op * (4 * MIB // len(op)), 9)])


# --- finding 1: nothing from outside the folder, nothing of Abby's own ------------------------


def _hostile_folder(tmp_path: Path, data_dir: Path) -> Path:
    """A docs folder whose links point everywhere an ingest must not read."""
    secret = tmp_path / "private" / "secret.txt"
    write(secret.parent, {"secret.txt": "The vault combination is ZEBRA-4471-QUOKKA."})
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "keys").write_text("k1:PELICANKEYMATERIAL-do-not-index\n")
    docs = write(
        tmp_path / "docs",
        {
            "guide.md": "# Guide\n\nMembers earn coins by chatting politely.",
            "sub/real.md": "# Real\n\nThe library opens at nine in the morning.",
        },
    )
    (docs / "secret.md").symlink_to(secret)
    (docs / "keys.md").symlink_to(data_dir / "keys")
    (docs / "passwd.txt").symlink_to("/etc/passwd")
    (docs / "inner.md").symlink_to(docs / "sub" / "real.md")  # inside: fine
    (docs / "loop").symlink_to(docs)  # a directory loop
    (docs / "etc").symlink_to("/etc")
    os.mkfifo(docs / "pipe.md")
    return docs


@pytest.mark.slow
def test_links_out_of_the_folder_are_skipped_with_a_reason_and_never_found(
    tmp_path: Path,
) -> None:
    """A real `abby` process: a FIFO would hang it, a followed link would index the secret."""
    data_dir = tmp_path / "data"
    env = {"ABBY_DATA_DIR": str(data_dir)}
    docs = _hostile_folder(tmp_path, data_dir)
    started = time.monotonic()
    result = run_abby("rag", "ingest", str(docs), "--json", env=env, timeout=90)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 60
    report = json.loads(result.stdout)
    assert report["added"] == 3  # guide.md, sub/real.md and the inside link inner.md
    reasons = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert "outside" in reasons["secret.md"] and "not followed" in reasons["secret.md"]
    assert "outside" in reasons["passwd.txt"]
    assert "Abby's own data" in reasons["keys.md"]
    assert reasons["pipe.md"] == "not a regular file (a FIFO)"
    assert "directory" in reasons["loop"] and "directory" in reasons["etc"]

    human = run_abby("rag", "ingest", str(docs), env=env)
    assert human.exit_code == 0 and "secret.md" in human.stdout and "outside" in human.stdout

    for words in ("vault combination ZEBRA", "PELICANKEYMATERIAL", "root:x:0:0"):
        found = run_abby(
            "rag", "query", words, "--top-k", "10", "--min-score", "-1", "--json", env=env
        )
        assert found.exit_code == 0, found.output
        texts = " ".join(r["text"] for r in json.loads(found.stdout))
        assert "ZEBRA" not in texts and "PELICAN" not in texts and "root:x" not in texts
        assert "library opens at nine" in texts or "coins" in texts  # the store is not empty


def test_the_data_dir_inside_the_folder_is_never_read(rag: RagService, tmp_path: Path) -> None:
    """Even when the folder given holds Abby's data dir (or is it), none of it is read."""
    data_dir = rag.chroma_path.parent
    docs = data_dir.parent
    data_dir.mkdir(parents=True, exist_ok=True)
    write(docs, {"readme.md": "# Readme\n\nThe quick start of the community."})
    (data_dir / "keys").write_text("k1:PELICANKEYMATERIAL\n")
    write(data_dir / "logs", {"abby.log": "a log line about KESTREL"})
    write(data_dir, {"notes.md": "# Notes\n\nKESTREL notes inside the data dir."})
    report = rag.ingest_paths([docs])
    sources = [r.source for r in rag.list()]
    assert sources == [str(docs / "readme.md")]
    (skip,) = [s for s in report.skipped if Path(s.path) == data_dir]
    assert "Abby's own data" in skip.reason
    with pytest.raises(InvalidInput, match="Abby's own data"):
        rag.ingest_paths([data_dir])
    with pytest.raises(InvalidInput, match="Abby's own data"):
        rag.ingest_paths([data_dir / "notes.md"])


@pytest.mark.parametrize(
    "swap,reason",
    [("link", "now a symbolic link"), ("file", "changed while being read: skipped")],
)
def test_a_file_swapped_after_the_check_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: str, reason: str
) -> None:
    """The descriptor is checked after the open: a swap between check and open is refused."""
    docs = write(tmp_path / "docs", {"a.md": "fine"})
    outside = write(tmp_path / "out", {"secret.md": "SECRET"}) / "secret.md"
    boundary = loaders.Boundary.of(docs)
    checked = boundary.check(docs / "a.md")
    if swap == "link":
        (docs / "a.md").unlink()
        (docs / "a.md").symlink_to(outside)
    else:  # created before the old one goes, so it cannot reuse its inode number
        (docs / "b.md").write_text("another file under the same name")
        os.replace(docs / "b.md", docs / "a.md")
    # Freeze the check at its earlier answer: the swap lands between check and open.
    monkeypatch.setattr(loaders.Boundary, "check", lambda self, path: checked)
    with pytest.raises(loaders.Skip, match=reason):
        loaders.read_bytes(docs / "a.md", 1000, boundary)


# --- finding 6: one bad file is skipped, under a budget ---------------------------------------


@pytest.mark.slow
def test_a_flate_bomb_is_skipped_and_the_good_file_is_ingested(
    rag: RagService, tmp_path: Path
) -> None:
    docs = write(
        tmp_path / "docs",
        {
            "bomb.pdf": flate_bomb(),
            "broken.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n",
            "good.pdf": raw_pdf([text_page("Owls deliver the guild mail at dawn.")]),
        },
    )
    assert (docs / "bomb.pdf").stat().st_size < 400_000
    report = rag.ingest_paths([docs])
    assert report.added == 1, report
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert "bomb" in reasons["bomb.pdf"], reasons
    assert "PDF" in reasons["broken.pdf"], reasons
    assert "Owls deliver" in rag.query("who delivers the mail")[0].text


@pytest.mark.slow
def test_a_flate_bomb_costs_bounded_time_and_memory(tmp_path: Path) -> None:
    """Measured in a fresh process: its own peak and its PDF reader's peak stay small."""
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(flate_bomb(600))
    script = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from core.rag import loaders\n"
        # VmHWM, not RUSAGE_SELF: ru_maxrss survives exec, so it would report pytest's peak.
        "def peak_kb():\n"
        "    status = Path('/proc/self/status').read_text().split('VmHWM:')[1]\n"
        "    return int(status.split()[0])\n"
        "path = Path(sys.argv[1]); t = time.monotonic()\n"
        "try:\n"
        "    loaders.parse(path, loaders.read_bytes(path, 10 << 20)); reason = None\n"
        "except loaders.Skip as skip:\n"
        "    reason = skip.reason\n"
        "print(json.dumps({'reason': reason, 'seconds': time.monotonic() - t,\n"
        "    'self_kb': peak_kb(),\n"
        "    'child_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(bomb)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    measured = json.loads(done.stdout)
    assert measured["reason"] and "bomb" in measured["reason"], measured
    assert measured["seconds"] < 15, measured
    assert measured["self_kb"] < 200 * 1024, measured  # the bytes are never inflated here
    assert measured["child_kb"] < 400 * 1024, measured  # nor beyond the budget there


def test_a_pdf_over_the_page_limit_is_skipped_before_its_pages_are_read(tmp_path: Path) -> None:
    path = tmp_path / "many.pdf"
    path.write_bytes(raw_pdf([text_page(f"Page {i}") for i in range(300)]))
    started = time.monotonic()
    with pytest.raises(loaders.Skip) as caught:
        loaders.parse(path, path.read_bytes(), loaders.PdfBudget(max_pages=100))
    assert caught.value.reason == "PDF has 300 pages; the limit is 100 (rag.max_pdf_pages)"
    assert time.monotonic() - started < 5
    loaded = loaders.parse(path, path.read_bytes(), loaders.PdfBudget(max_pages=300))
    assert "Page 299" in loaded.text


def test_a_pdf_slower_than_its_time_budget_is_stopped(tmp_path: Path) -> None:
    path = tmp_path / "slow.pdf"
    path.write_bytes(slow_page_pdf())
    started = time.monotonic()
    with pytest.raises(loaders.Skip) as caught:
        loaders.parse(path, path.read_bytes(), loaders.PdfBudget(seconds=1.0))
    assert caught.value.reason == "PDF took over 1 s to read (rag.pdf_timeout_seconds)"
    assert time.monotonic() - started < 4


def test_pages_that_decompress_beyond_the_budget_together_are_skipped(tmp_path: Path) -> None:
    """Each stream is under the cap; the file as a whole is not."""
    page = zlib.compress(b" " * MIB, 9)
    path = tmp_path / "pages.pdf"
    path.write_bytes(raw_pdf([page] * 6))
    with pytest.raises(loaders.Skip, match="decompresses to over 4,194,304 bytes"):
        loaders.parse(path, path.read_bytes(), loaders.PdfBudget(max_decompressed=4 * MIB))
