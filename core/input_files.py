"""Reading a file an operator names: a regular file only, never more than a size cap.

A FIFO, a device or a directory given where a file is read used to hang for ever (`open()`
on a FIFO waits for a writer, `/dev/zero` never ends) or fail deep inside a parser. The path
is opened non-blocking, the descriptor actually opened is checked with `fstat` (no window
between a check and the open for a swap), and at most `max_bytes` are read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.errors import InvalidInput

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_CHUNK = 1024 * 1024


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_input_file(path: str | os.PathLike[str], *, max_bytes: int, what: str = "file") -> bytes:
    """Return the bytes of the regular file at `path` (symlinks followed).

    Raises FileNotFoundError when it does not exist (each command keeps its own exit code
    for that), InvalidInput when it is not a regular file, is unreadable or is larger than
    `max_bytes`. Never blocks on a FIFO or a device.
    """
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise InvalidInput(f"the {what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidInput(f"the {what} {path} is {_kind(info.st_mode)}, not a regular file")
        _check_size(path, info.st_size, max_bytes, what)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        # Read one byte past the cap: a file that grew after fstat is refused, not truncated.
        while total <= max_bytes:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        _check_size(path, total, max_bytes, what)
        return b"".join(chunks)
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _check_size(path: Path, size: int, max_bytes: int, what: str) -> None:
    if size > max_bytes:
        raise InvalidInput(
            f"the {what} {path} is {size / 1048576:.1f} MiB;"
            f" the limit is {max_bytes / 1048576:.1f} MiB"
        )
