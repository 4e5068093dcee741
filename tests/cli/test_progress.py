"""Progress that measures the work: one (done, total) protocol from the core, counting
chunks for ingest, files for cleanup, records for imports; drawn only for a person."""

from __future__ import annotations

import io
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from abby_cli import output, runtime
from core.clock import FrozenClock
from core.context import AppContext
from tests.support.stability_server import make_png


@pytest.mark.slow
def test_ingest_progress_counts_chunks_embedded_with_files_as_a_second_line(
    context: AppContext, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(4):
        paragraphs = "\n\n".join(f"Paragraph {j} of file {i}: " + "words " * 60 for j in range(6))
        (docs / f"f{i}.md").write_text(f"# File {i}\n\n{paragraphs}")
    steps: list[tuple[int, int]] = []
    files: list[tuple[int, int]] = []
    report = context.rag.ingest_paths(
        [docs],
        progress=lambda d, t: steps.append((d, t)),
        files=lambda d, t: files.append((d, t)),
    )
    assert report.chunks > 4  # several chunks per file: chunks, not files, are the unit
    assert steps[-1] == (report.chunks, report.chunks)
    assert files[-1] == (4, 4)
    done = [d for d, _ in steps]
    totals = [t for _, t in steps]
    assert done == sorted(done) and totals == sorted(totals)
    assert all(d <= t for d, t in steps)


def test_cleanup_progress_counts_files_checked_then_deleted(backend, context: AppContext) -> None:  # noqa: ANN001
    long_ago = FrozenClock(datetime.now(UTC) - timedelta(days=400))
    past = AppContext(backend.settings(), clock=long_ago)
    try:
        records = [past.storage.save("u1", make_png(2, 2)) for _ in range(2)]
    finally:
        past.close()
    records.append(context.storage.save("u1", make_png(2, 2)))
    stamp = (datetime.now(UTC) - timedelta(days=400)).timestamp()
    for record in records[:2]:
        os.utime(context.storage.absolute(record), (stamp, stamp))
    dry: list[tuple[int, int]] = []
    context.storage.cleanup(dry_run=True, progress=lambda d, t: dry.append((d, t)))
    assert dry[0] == (0, 3) and dry[-1] == (3, 3)  # three files checked, none deleted
    seen: list[tuple[int, int]] = []
    report = context.storage.cleanup(progress=lambda d, t: seen.append((d, t)))
    assert report.files_deleted == 2
    assert seen[-1] == (5, 5)  # three checked + two deleted: the bar ends full
    assert all(done <= total for done, total in seen)


def test_import_progress_counts_records(context: AppContext) -> None:
    data = {"players": [{"id": str(i), "xp": i} for i in range(7)]}
    seen: list[tuple[int, int]] = []
    context.xp.import_mee6(data, guild_id="g", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (7, 7)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("mode", "shown"), [("none", True), ("json", False), ("plain", False), ("quiet", False)]
)
def test_bars_are_drawn_on_a_terminal_only_and_never_with_json_plain_or_quiet(
    monkeypatch: pytest.MonkeyPatch, mode: str, shown: bool
) -> None:
    runtime.reset()
    monkeypatch.setattr(sys, "stderr", _Terminal())
    runtime.state.json = mode == "json"
    runtime.state.plain = mode == "plain"
    runtime.state.verbosity = -1 if mode == "quiet" else 0
    try:
        assert output.progress_shown() is shown
        with output.progress(
            "embedding", unit="chunks", second="reading files", second_unit="files"
        ) as meter:
            meter(0, 10)
            meter(10, 10)
            meter.second(2, 2)
            if meter._bar is not None:
                meter._bar.refresh()  # draw now, not on the refresh thread's next tick
        assert (meter._bar is not None) is shown
        drawn = sys.stderr.getvalue()
        if shown:  # each line names its own unit
            assert "10/10" in drawn and "chunks" in drawn
            assert "2/2" in drawn and "files" in drawn
        else:
            assert drawn == ""
    finally:
        runtime.reset()


def test_no_bar_when_stderr_is_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.reset()
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # cron's log
    with output.progress("cleaning storage", unit="files") as meter:
        meter(5, 5)
    assert meter._bar is None and sys.stderr.getvalue() == ""
