"""Issue #9, finding 4: cleanup deletes only what storage wrote, never the data dir's files.

Before the fix, `abby storage cleanup --yes` with `storage.root` set to the data dir deleted
`keys`, the log and the telemetry, and the dry run counted `abby.db`.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import FrozenClock
from core.config import load_settings
from core.context import AppContext
from core.errors import ConfigError, ExitCode
from core.storage import StorageManager
from tests.conftest import run_abby
from tests.support.stability_server import make_png

HEX = "0123456789abcdef" * 2
WEEK = 7 * 86_400


def _populated_data_dir(data: Path) -> AppContext:
    """A data dir as `abby` leaves it: database, key file, log, telemetry, one stored image."""
    env = {"ABBY_DATA_DIR": str(data)}
    assert run_abby("keys", "generate", "--write", env=env).exit_code == 0
    assert run_abby("db", "init", env=env).exit_code == 0
    context = AppContext(load_settings(environ=env))
    context.storage.save("u1", make_png())
    return context


def _age_everything(root: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    for path in root.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (stamp, stamp))


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_cleanup_with_the_root_on_the_data_dir_counts_and_deletes_none_of_its_files(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    context = _populated_data_dir(data)
    context.events.emit("test.event", {"n": 1})
    assert {"abby.db", "keys", "logs/abby.log", "telemetry/events.jsonl"} <= set(_tree(data))
    # The root is the data dir, as a misconfiguration made it (the config load now refuses).
    storage = StorageManager(
        repo=context.storage._repo,
        settings=context.settings.storage,
        root=data,
        clock=FrozenClock(datetime.now(UTC)),
        orphan_grace_seconds=0,
    )
    _age_everything(data, WEEK)
    before = _tree(data)

    dry = storage.cleanup(dry_run=True)
    assert (dry.orphan_files, dry.stale_temp_files, dry.bytes_freed) == (0, 0, 0), dry
    report = storage.cleanup()
    assert (report.orphan_files, report.stale_temp_files) == (0, 0), report
    after = _tree(data)
    assert set(after) == set(before)
    assert all(after[name] == before[name] for name in after if not name.startswith("abby.db"))
    context.close()


def test_cleanup_leaves_stray_and_look_alike_files_and_takes_only_its_own_orphans(
    tmp_path: Path,
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    settings = load_settings(environ={"ABBY_DATA_DIR": str(tmp_path / "data")})
    context = AppContext(settings, clock=clock)
    storage = context.storage
    root = storage.real_root()
    kept = storage.save("u1", make_png())
    month = Path(kept.path).parent.name
    png = make_png(3, 3)
    strays = {
        "notes.txt": b"operator's notes",
        f"{HEX}.png": png,  # our name, but at the root
        f"u1/{HEX}.png": png,  # our name, one level short
        f"u1/{month}/deeper/{HEX}.png": png,  # our name, one level deep
        f"u1/{month}/{HEX}.png.bak": png,
        f"u1/{month}/holiday.png": png,
        f"u1/{month}/{HEX[:-1]}f.jpg": b"not a jpeg at all",  # our name over other content
        f"u1/not-a-month/{HEX}.png": png,
        f"u1/{month}/.tmp-crash": b"temp-like but not ours",
        "backup/keys": b"key material",
    }
    orphan = f"u1/{month}/{'f' * 32}.png"
    stale_temp = f"u2/{month}/.tmp-{'a' * 16}"
    for rel, data in {**strays, orphan: png, stale_temp: b"half"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    _age_everything(root, WEEK)
    os.utime(storage.absolute(kept))  # recent: retention keeps it

    dry = storage.cleanup(dry_run=True)
    assert (dry.orphan_files, dry.stale_temp_files) == (1, 1), dry
    assert dry.bytes_freed == len(png) + 4
    report = storage.cleanup()
    assert (report.orphan_files, report.stale_temp_files, report.orphan_records) == (1, 1, 0)
    assert not (root / orphan).exists() and not (root / stale_temp).exists()
    for rel, data in strays.items():
        assert (root / rel).read_bytes() == data, rel
    assert storage.absolute(kept).exists()
    context.close()


@pytest.mark.parametrize(
    "root,reason",
    [
        ("{data}", "is the data dir itself"),
        ("{tmp}", "contains the data dir"),
        ("{data}/logs", "contains the log dir"),
        ("{data}/chroma/sub", "lies inside the Chroma store"),
        ("{data}/models", "contains the model cache"),
        ("{data}/telemetry", "contains the telemetry"),
    ],
)
def test_a_storage_root_holding_the_data_dirs_files_is_refused_at_load(
    tmp_path: Path, root: str, reason: str
) -> None:
    data = tmp_path / "data"
    env = {
        "ABBY_DATA_DIR": str(data),
        "ABBY_STORAGE__ROOT": root.format(data=data, tmp=tmp_path),
    }
    with pytest.raises(ConfigError, match=reason) as caught:
        load_settings(environ=env)
    assert caught.value.exit_code == ExitCode.CONFIG
    assert "\n" not in str(caught.value)


def test_a_storage_root_beside_or_under_the_data_dir_is_accepted(tmp_path: Path) -> None:
    for root in (tmp_path / "data" / "storage", tmp_path / "images", tmp_path / "data" / "img"):
        env = {"ABBY_DATA_DIR": str(tmp_path / "data"), "ABBY_STORAGE__ROOT": str(root)}
        assert load_settings(environ=env).storage_root == root


def test_a_symlinked_root_that_leads_to_the_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "link").symlink_to(data)
    env = {"ABBY_DATA_DIR": str(data), "ABBY_STORAGE__ROOT": str(tmp_path / "link")}
    with pytest.raises(ConfigError, match="is the data dir itself"):
        load_settings(environ=env)


@pytest.mark.slow
def test_cli_cleanup_with_the_root_on_the_data_dir_exits_78_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    _populated_data_dir(data).close()
    _age_everything(data, WEEK)
    before = _tree(data)
    env = {"ABBY_DATA_DIR": str(data), "ABBY_STORAGE__ROOT": str(data)}
    for args in (("--dry-run",), ("--yes",)):
        result = run_abby("storage", "cleanup", *args, "--json", env=env)
        assert result.exit_code == 78, result.output
        assert result.json()["error"]["code"] == "config_error"
        assert "is the data dir itself" in result.json()["error"]["message"]
    human = run_abby("storage", "cleanup", "--yes", env=env)
    assert human.exit_code == 78 and len(human.stderr.strip().splitlines()) == 1, human.output
    assert _tree(data) == before
