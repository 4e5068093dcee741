"""Private file modes: everything Abby keeps is readable by its owner only (0700 / 0600).

The data dir holds balances, the ledger, profiles, the knowledge base, image prompts, logs and
the key file. Abby creates some of those files itself (where it passes 0600 / 0700 explicitly),
but SQLite (``-wal``, ``-shm``), Chroma, onnxruntime and the logging module create others with
whatever the process umask allows, and under the usual umask 022 that is 0644 in 0755
directories: readable by every local user. So the application context sets the process umask
to 077 (`restrict_umask`) before it opens anything: it covers files created by libraries Abby
cannot pass a mode to, and it is harmless, since Abby never writes a file meant for others.
Files left loose by an older version or a manual copy are found by `loose_paths` (reported by
`abby doctor`) and tightened by `tighten` (`abby doctor --fix`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def restrict_umask() -> None:
    """Make every file and directory this process creates from now on owner-only."""
    previous = os.umask(PRIVATE_UMASK)
    os.umask(previous | PRIVATE_UMASK)


@dataclass(frozen=True)
class LoosePath:
    path: Path
    mode: int  # permission bits, e.g. 0o644

    @property
    def fixed_mode(self) -> int:
        return self.mode & ~_OTHERS


def loose_paths(roots: Iterable[Path]) -> list[LoosePath]:
    """Files and directories under `roots` (the roots too) that group or others may use.

    Symlinks are neither followed nor reported; missing roots are skipped.
    """
    found: list[LoosePath] = []
    seen: set[Path] = set()
    for root in roots:
        for path, mode in _walk(Path(root), seen):
            if mode & _OTHERS:
                found.append(LoosePath(path, mode))
    return found


def tighten(loose: Iterable[LoosePath]) -> tuple[list[LoosePath], list[tuple[LoosePath, str]]]:
    """Remove group and other permissions; return (tightened, [(not tightened, reason)])."""
    done: list[LoosePath] = []
    failed: list[tuple[LoosePath, str]] = []
    for item in loose:
        try:
            os.chmod(item.path, item.fixed_mode, follow_symlinks=False)
        except OSError as exc:
            failed.append((item, exc.strerror or type(exc).__name__))
        else:
            done.append(item)
    return done, failed


def _walk(root: Path, seen: set[Path]) -> Iterator[tuple[Path, int]]:
    try:
        info = root.lstat()
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode) or root in seen:
        return
    seen.add(root)
    yield root, stat.S_IMODE(info.st_mode)
    if not stat.S_ISDIR(info.st_mode):
        return
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        yield from _walk(Path(entry.path), seen)
