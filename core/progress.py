"""The one progress protocol: `progress(done, total)` after each step of a long operation.

`done` counts what is finished and never goes down; `total` is the whole (it may grow while
the operation discovers work, and equals `done` at the end). Front ends adapt it once: the
CLI to a Rich bar, the bot to an edited message.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def __call__(self, done: int, total: int) -> None: ...
