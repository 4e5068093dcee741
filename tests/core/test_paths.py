"""Safe paths: names and root-relative paths tried as an attacker would, and atomic writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import ExitCode, UnsafePath
from core.paths import atomic_write, contain, resolve_inside, safe_name, safe_relative

ATTACKS = [
    "../../x",
    "..",
    "a/../../x",
    "a/../b/../../x",
    "/etc/passwd",
    "//etc/passwd",
    "a\x00b",
    "..\\..\\x",
    "a\\b",
    "x" * 5000,
    "a/" + "y" * 300,
    "",
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "u1").mkdir(parents=True)
    (tmp_path / "sentinel.txt").write_text("outside")
    return root


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: repr(a[:20]))
def test_attacker_paths_are_refused_with_unsafe_path(root: Path, attack: str) -> None:
    with pytest.raises(UnsafePath) as caught:
        resolve_inside(root, attack)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "\x00" not in str(caught.value) and len(str(caught.value)) < 200


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "a/b", "a\\b", "a\x00", "\x07bell", "z" * 256, ".tmp-123"]
)
def test_unsafe_names_are_refused(bad: str) -> None:
    with pytest.raises(UnsafePath):
        safe_name(bad)


@pytest.mark.parametrize("good", ["123456789012345678", "ada", "a.b-c_d", "é" * 10])
def test_ordinary_ids_make_usable_names(good: str) -> None:
    assert safe_name(good) == good


def test_plain_relative_paths_resolve_inside_the_root(root: Path) -> None:
    assert resolve_inside(root, "u1/2026-01/f.png") == root.resolve() / "u1/2026-01/f.png"
    assert safe_relative("./u1//f.png").as_posix() == "u1/f.png"


def test_a_symlink_inside_the_root_pointing_outside_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "u1" / "escape").symlink_to(tmp_path)
    (root / "u1" / "file-link").symlink_to(tmp_path / "sentinel.txt")
    for path in ("u1/escape/sentinel.txt", "u1/file-link", "u1/escape"):
        with pytest.raises(UnsafePath, match="outside"):
            resolve_inside(root, path)
    with pytest.raises(UnsafePath, match="outside"):
        contain(root, str(root / "u1" / "escape" / "sentinel.txt"))
    assert (tmp_path / "sentinel.txt").read_text() == "outside"


def test_a_symlink_that_stays_inside_the_root_is_followed(root: Path) -> None:
    (root / "u1" / "real.png").write_bytes(b"x")
    (root / "u1" / "alias.png").symlink_to(root / "u1" / "real.png")
    assert resolve_inside(root, "u1/alias.png") == (root / "u1" / "real.png").resolve()


def test_absolute_paths_are_accepted_only_inside_the_root(root: Path, tmp_path: Path) -> None:
    inside = root / "u1" / "a.png"
    assert contain(root, str(inside)) == inside.resolve()
    for outside in (str(tmp_path / "sentinel.txt"), "/etc/passwd", str(root), str(root) + "/../x"):
        with pytest.raises(UnsafePath):
            contain(root, outside)


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "d" / "f.bin"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]


def test_a_failed_write_keeps_the_old_file_and_cleans_its_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write(target, b"old")
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


WRITER = """
import sys
from pathlib import Path
from core.paths import atomic_write
target = Path(sys.argv[1])
n = 0
print("ready", flush=True)
while True:
    n = (n + 1) % 250
    atomic_write(target, bytes([n + 1]) * (4 * 1024 * 1024))
"""


def test_a_writer_killed_mid_write_never_leaves_a_half_file(tmp_path: Path) -> None:
    target = tmp_path / "image.bin"
    root = Path(__file__).resolve().parents[2]
    for delay in (0.05, 0.13, 0.29):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        if target.exists():
            data = target.read_bytes()
            assert len(data) == 4 * 1024 * 1024
            assert data == data[:1] * len(data), "the file mixes two versions"
