"""A full disk, a read-only file system, a file size limit: the real CLI on a real tiny fs.

Each refused write is exit 75 with one line naming what happened, never the 54-68 lines of
`--- Logging error --- Traceback` nor exit 1 `internal`, and nothing is lost: balances, XP
and the key file are the same before and after (issue #9, finding 9).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, CliResult, run_abby
from tests.support.tiny_fs import fill, mounted_tiny_fs


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for this test (needs root: skipped otherwise)."""
    with mounted_tiny_fs(tmp_path / "tiny") as mount:
        yield mount


def _state(env: dict[str, str]) -> tuple[int, int, int]:
    balances = [
        json.loads(run_abby("bank", "balance", user, "--json", env=env).stdout)["balance"]
        for user in ("u1", "u2")
    ]
    xp = json.loads(run_abby("xp", "get", "u1", "--json", env=env).stdout)["xp"]
    return balances[0], balances[1], xp


def _seed(env: dict[str, str]) -> tuple[int, int, int]:
    for user, amount in (("u1", "1000"), ("u2", "10")):
        assert run_abby("bank", "add", user, amount, "-r", "seed", env=env).exit_code == 0
    assert run_abby("xp", "add", "u1", "50", env=env).exit_code == 0
    return _state(env)


def _refused_in_one_line(result: CliResult, code: str | None = None) -> None:
    assert result.exit_code == 75, result.output
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr, result.output
    # The error, plus at most the log handler's own one-line warning.
    assert 1 <= len(result.stderr.strip().splitlines()) <= 2 or code, result.output
    if code is not None:
        assert json.loads(result.stdout)["error"]["code"] == code, result.output


WRITES = [
    ("bank", "transfer", "u1", "u2", "5"),
    ("bank", "add", "u1", "5", "-r", "more"),
    ("xp", "add", "u1", "5"),
    ("keys", "generate", "--write"),
]


@pytest.mark.slow
def test_a_full_disk_is_exit_75_in_one_line_and_loses_nothing(tiny_fs: Path) -> None:
    env = {"ABBY_DATA_DIR": str(tiny_fs / "data")}
    before = _seed(env)
    filler = fill(tiny_fs)
    for args in WRITES:
        result = run_abby(*args, env=env)
        _refused_in_one_line(result)
        assert "disk full" in result.stderr and str(tiny_fs) in result.stderr, result.output
    _refused_in_one_line(run_abby(*WRITES[0], "--json", env=env), code="disk_full")
    filler.unlink()
    assert _state(env) == before
    assert not (tiny_fs / "data" / "keys").exists()
    # And once there is space again, the same write goes through.
    assert run_abby(*WRITES[0], env=env).exit_code == 0
    assert _state(env)[:2] == (before[0] - 5, before[1] + 5)


@pytest.mark.parametrize("json_mode", [False, True], ids=["table", "json"])
def test_stdout_redirected_to_a_full_disk_is_exit_75_in_one_line(
    tiny_fs: Path, tmp_path: Path, json_mode: bool
) -> None:
    """Cron's `abby ... --json >> /var/log/abby-cron.log` with that disk full."""
    env = {"ABBY_DATA_DIR": str(tmp_path / "data")}
    assert run_abby("bank", "add", "u1", "5", "-r", "seed", env=env).exit_code == 0
    fill(tiny_fs)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    full_env.update(env, PYTHONPATH=str(ROOT))
    args = ["bank", "balance", "u1", *(["--json"] if json_mode else [])]
    with open(tiny_fs / "cron.log", "ab") as redirected:
        done = subprocess.run(
            [sys.executable, "-m", "abby_cli.main", *args],
            cwd=tmp_path,
            env=full_env,
            stdout=redirected,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.returncode == 75, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: cannot write standard output: no space left on the device (disk full);"
        " free some and retry"
    ], done.stderr


def test_a_crash_with_the_log_on_a_full_disk_prints_no_logging_traceback(
    tiny_fs: Path, tmp_path: Path
) -> None:
    # An unexpected failure (a bug injected into `db status`; a corrupt abby.db used to be
    # the example, but it is a typed error now, exit 78) is logged with its traceback to
    # abby.log; with the log on a full disk, logging used to dump its own traceback instead.
    data = tmp_path / "data"
    logs = tiny_fs / "logs"
    logs.mkdir()
    env = {"ABBY_DATA_DIR": str(data), "ABBY_LOGGING__DIR": str(logs)}
    assert run_abby("db", "init", env=env).exit_code == 0
    (logs / "abby.log").write_bytes(b"x" * 4095 + b"\n")  # one whole page: the next needs one
    fill(tiny_fs)
    script = (
        "import core.context\n"
        "def broken(self):\n    raise RuntimeError('a bug')\n"
        "core.context.AppContext.status = broken\n"
        "from abby_cli.main import main\nmain(['db', 'status'])\n"
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    process = subprocess.run(
        [sys.executable, "-c", script],
        env={**full_env, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = CliResult(process.returncode, process.stdout, process.stderr)
    assert result.exit_code == 1, result.output
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 2 and lines[-1].startswith("error: unexpected"), result.output


@pytest.mark.slow
def test_a_read_only_file_system_is_exit_75_in_one_line_and_loses_nothing(tiny_fs: Path) -> None:
    env = {"ABBY_DATA_DIR": str(tiny_fs / "data")}
    before = _seed(env)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    try:
        for args in WRITES:
            result = run_abby(*args, env=env)
            _refused_in_one_line(result)
            assert "read-only" in result.stderr, result.output
        _refused_in_one_line(run_abby(*WRITES[0], "--json", env=env), code="read_only_storage")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)
    assert _state(env) == before


def _with_file_size_limit(limit: int):  # noqa: ANN202 - a preexec_fn
    def apply() -> None:
        # Ignored, SIGXFSZ lets a write past the limit fail with EFBIG instead of killing us.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.slow
def test_the_file_size_limit_is_exit_75_in_one_line_and_loses_nothing(tmp_path: Path) -> None:
    """RLIMIT_FSIZE: the same failure without mounting anything (works unprivileged)."""
    env = {"ABBY_DATA_DIR": str(tmp_path / "data")}
    before = _seed(env)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    full_env.update(env, PYTHONPATH=str(ROOT))
    for args in (WRITES[0], WRITES[2]):
        done = subprocess.run(
            [sys.executable, "-m", "abby_cli.main", *args],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_with_file_size_limit(4096),
        )
        result = CliResult(done.returncode, done.stdout, done.stderr)
        _refused_in_one_line(result)
        assert "file size limit" in result.stderr, result.output
    assert _state(env) == before


@pytest.mark.slow
def test_rag_on_a_full_disk_is_exit_75_in_one_line(tmp_path: Path) -> None:
    """Chroma reports SQLite's 'database or disk is full' in an exception of its own."""
    mount = tmp_path / "big"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=300M", "tmpfs", str(mount)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        docs = tmp_path / "docs"
        docs.mkdir()
        (docs / "keys.md").write_text("# Keys\n\nRotate the encryption keys with abby keys.\n")
        env = {"ABBY_DATA_DIR": str(mount / "data")}
        assert run_abby("rag", "ingest", str(docs), env=env).exit_code == 0
        fill(mount)
        for args in (("rag", "query", "rotate keys"), ("rag", "ingest", str(docs), "--prune")):
            result = run_abby(*args, env=env)
            _refused_in_one_line(result)
            assert "disk full" in result.stderr, result.output
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
