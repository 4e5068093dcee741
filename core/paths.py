"""Safe paths: names built from ids, paths checked to stay inside a root, atomic writes.

Every path Abby builds from something a user or an operator typed goes through here. A name
is refused (``UnsafePath``) rather than silently rewritten when it carries a NUL byte, a
separator, a backslash, a ``..`` component or more characters than a file system allows; a
path is resolved with symlinks followed and must still lie inside its root. Writes go to a
``.tmp-*`` file in the destination directory, are fsynced, then renamed over the target, so a
crash leaves either the old file or the new one, never half of one. A read-modify-write of a
small state file holds `locked()`, an flock on a ``.lock`` sibling shared by every process.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from core.errors import UnsafePath, storage_error

# One path component; most file systems stop at 255 bytes.
MAX_NAME_BYTES = 255
# A whole relative path (Linux PATH_MAX is 4096, and we add the root to it).
MAX_PATH_CHARS = 1024
TEMP_PREFIX = ".tmp-"
LOCK_SUFFIX = ".lock"


def _shown(text: str) -> str:
    clean = text.replace("\x00", "\\0")
    return repr(clean if len(clean) <= 40 else clean[:37] + "...")


def safe_name(value: object, what: str = "name") -> str:
    """Return `value` as one safe path component, or raise UnsafePath.

    Refused: empty, ``.`` or ``..``, a NUL or control character, ``/`` or ``\\``, a leading
    ``.tmp-`` (reserved for in-flight writes), more than 255 UTF-8 bytes.
    """
    if not isinstance(value, str):
        raise UnsafePath(f"{what} must be text, not {type(value).__name__}")
    if not value or value in (".", ".."):
        raise UnsafePath(f"{what} {_shown(value)} is not a usable file name")
    if "\x00" in value:
        raise UnsafePath(f"{what} {_shown(value)} contains a NUL byte")
    if "/" in value or "\\" in value:
        raise UnsafePath(f"{what} {_shown(value)} contains a path separator")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UnsafePath(f"{what} {_shown(value)} contains control characters")
    if value.startswith(TEMP_PREFIX):
        raise UnsafePath(f"{what} {_shown(value)} uses the reserved prefix {TEMP_PREFIX}")
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise UnsafePath(f"{what} is {len(value)} characters; the limit is {MAX_NAME_BYTES} bytes")
    return value


def safe_relative(value: object, what: str = "path") -> PurePosixPath:
    """Check a root-relative path typed by someone; return it as a PurePosixPath.

    Refused: absolute paths, backslashes, NUL bytes, ``..`` components, empty components
    other than the trailing one, over-long names or paths.
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise UnsafePath(f"{what} must be text, not {type(value).__name__}")
    if not value:
        raise UnsafePath(f"{what} is empty")
    if "\x00" in value:
        raise UnsafePath(f"{what} {_shown(value)} contains a NUL byte")
    if "\\" in value:
        raise UnsafePath(f"{what} {_shown(value)} contains a backslash")
    if len(value) > MAX_PATH_CHARS:
        raise UnsafePath(f"{what} is {len(value)} characters; the limit is {MAX_PATH_CHARS}")
    if value.startswith("/") or os.path.isabs(value):
        raise UnsafePath(f"{what} {_shown(value)} is absolute; give it relative to the root")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if not parts:
        raise UnsafePath(f"{what} {_shown(value)} names no file")
    if ".." in parts:
        raise UnsafePath(f"{what} {_shown(value)} climbs out with '..'")
    for part in parts:
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise UnsafePath(f"{what} has a component over {MAX_NAME_BYTES} bytes")
        if any(ord(c) < 32 or ord(c) == 127 for c in part):
            raise UnsafePath(f"{what} {_shown(value)} contains control characters")
    return PurePosixPath(*parts)


def resolve_inside(root: Path, relative: object, what: str = "path") -> Path:
    """Join a checked relative path to `root`, follow symlinks, and prove it stays inside.

    Returns the resolved absolute path (which need not exist). Raises UnsafePath.
    """
    rel = safe_relative(relative, what)
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / rel))
    if not is_within(real_root, target):
        raise UnsafePath(f"{what} {_shown(str(relative))} resolves outside the storage root")
    return target


def contain(root: Path, candidate: object, what: str = "path") -> Path:
    """Accept an absolute path or a root-relative one; return it resolved inside `root`.

    An absolute path is accepted only when, after following symlinks, it lies inside the
    root (the CLI prints absolute paths, so an operator pastes them back).
    """
    if isinstance(candidate, os.PathLike):
        candidate = os.fspath(candidate)
    if isinstance(candidate, str) and candidate.startswith("/") and "\x00" not in candidate:
        if len(candidate) > MAX_PATH_CHARS or "\\" in candidate:
            raise UnsafePath(f"{what} {_shown(candidate)} is not an acceptable path")
        real_root = Path(os.path.realpath(root))
        target = Path(os.path.realpath(candidate))
        if not is_within(real_root, target) or target == real_root:
            raise UnsafePath(f"{what} {_shown(candidate)} resolves outside the storage root")
        return target
    return resolve_inside(root, candidate, what)


def is_within(root: Path, target: Path) -> bool:
    """True when `target` is `root` or below it (both already resolved)."""
    return target == root or root in target.parents


def atomic_write(path: Path, data: bytes, *, mode: int = 0o640) -> None:
    """Write `data` to `path` through a temp file in the same directory, fsync, rename.

    The directory is fsynced after the rename so the new name survives a power cut too.
    """
    path = Path(path)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        typed = storage_error(exc, path)
        if typed is not None:  # disk full or read-only: exit 75 naming the file, not exit 1
            raise typed from exc
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_path(path: Path) -> Path:
    """The lock file that guards `path`: its sibling with ``.lock`` appended."""
    path = Path(path)
    return path.with_name(path.name + LOCK_SUFFIX)


@contextmanager
def locked(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold a cross-process flock guarding `path` (exclusive, or `shared` for readers).

    The lock lives on a sibling ``<name>.lock`` (created 0600, never removed), not on `path`
    itself: `atomic_write` replaces `path` with a new inode, and a lock on the old inode would
    no longer exclude anyone. Each call opens its own descriptor, so threads of one process
    exclude each other too; the lock is not re-entrant, so never nest it on one path.
    """
    target = lock_path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        # Closing the descriptor releases the lock, also when the flock call was interrupted.
        os.close(fd)
