"""A FIFO, a device or a directory given where a file is read is refused in one line before
it is opened for reading, never a hang (a FIFO to `image upscale` hung for ever; issue #9).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_abby


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("image", "upscale", "{fifo}", "--user", "u1"), "FIFO"),
        (("image", "edit", "{fifo}", "a cat", "--user", "u1"), "FIFO"),
        (("xp", "import-mee6", "{fifo}", "--guild", "g1"), "FIFO"),
        (("rag", "eval", "{fifo}"), "FIFO"),
        (("image", "upscale", "/dev/zero", "--user", "u1"), "character device"),
        (("xp", "import-mee6", "/dev/zero", "--guild", "g1"), "character device"),
        (("image", "upscale", "{dir}", "--user", "u1"), "directory"),
        (("rag", "eval", "{dir}"), "directory"),
    ],
    ids=lambda v: " ".join(v)[:40] if isinstance(v, tuple) else v,
)
def test_a_fifo_device_or_directory_as_input_file_is_refused_without_hanging(
    args: tuple[str, ...], needle: str, fifo: Path, tmp_path: Path
) -> None:
    argv = [a.format(fifo=fifo, dir=tmp_path) for a in args]
    # Before the fix the FIFO case blocked in open() for ever: the timeout fails the test.
    result = run_abby(*argv, env={"ABBY_DATA_DIR": str(tmp_path / "data")}, timeout=60)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and "not a regular file" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.output


def test_a_missing_input_file_is_exit_3_for_every_command(tmp_path: Path) -> None:
    env = {"ABBY_DATA_DIR": str(tmp_path / "data")}
    assert run_abby("xp", "import-mee6", "nope.json", "--guild", "g1", env=env).exit_code == 3
    assert run_abby("rag", "eval", "nope.jsonl", env=env).exit_code == 3
    assert run_abby("image", "upscale", "nope.png", "--user", "u1", env=env).exit_code == 3
    assert run_abby("image", "edit", "nope.png", "a cat", "-u", "u1", env=env).exit_code == 3
