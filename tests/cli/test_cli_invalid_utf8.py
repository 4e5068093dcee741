"""Arguments that are not valid UTF-8 (Python's surrogate escapes) are exit 2 with one line,
refused before anything is written, never a UnicodeEncodeError (issue #9, finding 9).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _run_bytes(args: list[bytes], tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    env.update(PYTHONPATH=str(ROOT), ABBY_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run(
        [sys.executable.encode(), b"-m", b"abby_cli.main", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        [b"user", b"set", b"u1", b"bio", b"\xff"],
        [b"user", b"set", b"u1", b"bio", b"caf\xe9 au lait"],
        [b"rag", b"query", b"\xff\xfe"],
        [b"bank", b"add", b"u\xff", b"5", b"--reason", b"r"],
    ],
    ids=["bio-ff", "bio-latin1", "rag-query", "user-id"],
)
def test_invalid_utf8_in_an_argument_is_exit_2_with_one_line(args, tmp_path: Path) -> None:  # noqa: ANN001
    result = _run_bytes(args, tmp_path)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, stderr
    assert "is not valid UTF-8" in stderr, stderr
    assert "Traceback" not in stderr and "UnicodeEncodeError" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    # Refused before anything opened a store: nothing was written.
    assert not (tmp_path / "data" / "abby.db").exists()


def test_invalid_utf8_with_json_is_an_error_document(tmp_path: Path) -> None:
    import json

    result = _run_bytes([b"rag", b"query", b"\xff\xfe", b"--json"], tmp_path)
    assert result.returncode == 2, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_input" and "\\xff\\xfe" in error["message"]


def test_valid_utf8_arguments_still_work(cli, backend_env) -> None:  # noqa: ANN001
    from core.context import current

    current().users.upsert("u1", "kim")
    assert cli("user", "set", "u1", "bio", "café ☕").exit_code == 0
    assert cli("user", "show", "u1", "--json").json()["bio"] == "café ☕"
