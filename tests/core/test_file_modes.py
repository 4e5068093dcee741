"""Issue #9, finding 7 (modes): nothing under the data dir is readable by group or others.

Under the default umask 022, `abby.db`, its `-wal`, `logs/abby.log` and `chroma/chroma.sqlite3`
were 0644 in 0755 directories: any local user could read balances, the ledger, profiles, the
knowledge base and image prompts. Every command here runs as a separate process under umask 022.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.permissions import loose_paths, restrict_umask
from tests.conftest import ROOT, CliResult
from tests.support.stability_server import TEST_KEY, StabilityServer


def abby_022(*args: str, env: dict[str, str], timeout: float = 180) -> CliResult:
    """`abby ARGS` as its own process, started with the common umask 022."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    process = subprocess.run(
        [sys.executable, "-m", "abby_cli.main", *args],
        env={**full, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=lambda: os.umask(0o022),
    )
    return CliResult(process.returncode, process.stdout, process.stderr)


def readable_by_others(root: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = Path(dirpath) / name
            mode = stat.S_IMODE(path.lstat().st_mode)
            if not path.is_symlink() and mode & 0o077:
                found.append(f"{path.relative_to(root)} {mode:04o}")
    return sorted(set(found))


@pytest.fixture
def stability() -> Iterator[StabilityServer]:
    server = StabilityServer()
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_every_file_the_cli_creates_under_umask_022_is_owner_only(
    tmp_path: Path, stability: StabilityServer
) -> None:
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Keys\n\nRotate encryption keys with abby keys rotate.\n")
    env = {
        "ABBY_DATA_DIR": str(data),
        "ABBY_IMAGES__BASE_URL": stability.url,
        "ABBY_IMAGES__API_KEY": TEST_KEY,
        "ABBY_IMAGES__POLL_INTERVAL_SECONDS": "0.02",
    }
    steps = [
        ("db", "init"),
        ("keys", "generate", "--write"),
        ("xp", "add", "u1", "30"),
        ("bank", "add", "u1", "100", "--reason", "test"),
        ("rag", "ingest", str(docs)),
        ("rag", "query", "rotate keys"),
        ("image", "generate", "a lighthouse", "--user", "u1"),
        ("storage", "usage"),
        ("storage", "cleanup", "--yes"),
        ("-v", "doctor"),
    ]
    for args in steps:
        result = abby_022(*args, "--json", env=env)
        assert result.exit_code == 0, (args, result.output)
    created = {p.relative_to(data).as_posix() for p in data.rglob("*")}
    expected = {"abby.db", "keys", "logs/abby.log", "telemetry/events.jsonl", "chroma"}
    assert expected <= created, created
    assert any(name.startswith("chroma/") and name.endswith(".sqlite3") for name in created)
    assert any(name.startswith("storage/u1/") for name in created), created
    assert readable_by_others(data) == []


@pytest.mark.slow
def test_doctor_names_loose_files_and_fix_makes_them_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"ABBY_DATA_DIR": str(data)}
    assert abby_022("db", "init", env=env).exit_code == 0
    assert abby_022("keys", "generate", "--write", env=env).exit_code == 0
    # Left loose by an older version or a careless copy.
    os.chmod(data, 0o755)
    os.chmod(data / "abby.db", 0o644)
    os.chmod(data / "logs", 0o775)
    os.chmod(data / "logs" / "abby.log", 0o604)
    (data / "notes.txt").write_text("operator notes")
    os.chmod(data / "notes.txt", 0o666)

    report = abby_022("doctor", "--json", env=env)
    assert report.exit_code == 0, report.output  # a warning, not a failure
    row = next(c for c in report.json() if c["name"] == "file_modes")
    assert row["status"] == "warn", row
    for name in ("abby.db (0644)", "logs (0775)", "logs/abby.log (0604)", "notes.txt (0666)"):
        assert name in row["detail"], row
    assert "--fix" in row["detail"]

    fixed = abby_022("doctor", "--fix", "--json", env=env)
    assert fixed.exit_code == 0, fixed.output
    row = next(c for c in fixed.json() if c["name"] == "file_modes")
    assert row["status"] == "ok" and "tightened" in row["detail"], row
    assert readable_by_others(data) == []
    assert stat.S_IMODE((data / "notes.txt").stat().st_mode) == 0o600  # owner bits kept
    assert stat.S_IMODE((data / "logs").stat().st_mode) == 0o700

    again = abby_022("doctor", "--json", env=env)
    row = next(c for c in again.json() if c["name"] == "file_modes")
    assert row["status"] == "ok", row
    human = abby_022("doctor", env=env)
    assert human.exit_code == 0 and "file_modes" in human.stdout, human.output


def test_loose_paths_follow_no_symlink_out_of_the_data_dir(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    os.chmod(outside, 0o644)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "link").symlink_to(outside)
    assert loose_paths([data]) == []


def test_restrict_umask_keeps_a_stricter_umask_and_tightens_a_loose_one() -> None:
    previous = os.umask(0o022)
    try:
        restrict_umask()
        assert os.umask(0o277) == 0o077
        restrict_umask()
        assert os.umask(0o022) == 0o277
    finally:
        os.umask(previous)


def test_a_rotated_log_file_is_owner_only_too(tmp_path: Path) -> None:
    code = (
        "import logging, os; os.umask(0o022);"
        "from core.telemetry.logs import setup_logging;"
        f"setup_logging('INFO', {str(tmp_path / 'logs')!r});"
        "os.umask(0o022);"  # even if something loosened the umask after set-up
        "h = [h for h in logging.getLogger().handlers if hasattr(h, 'doRollover')][0];"
        "logging.getLogger('t').warning('one'); h.doRollover();"
        "logging.getLogger('t').warning('two')"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names == ["abby.log", "abby.log.1"]
    assert readable_by_others(tmp_path / "logs") == []
    assert json.loads((tmp_path / "logs" / "abby.log").read_text())["message"] == "two"
