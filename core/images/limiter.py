"""A client-side rate limiter for the Stability API: N requests per sliding window, and a
lockout after the server answers 429.

Stability allows 150 requests in 10 seconds and blocks a client for 60 seconds after it
exceeds that. The bot's shards and the CLI run as separate processes on one machine, so the
window and the lockout live in a small JSON file guarded by an exclusive `flock` on its
`.lock` sibling and replaced atomically: every process on the machine sees the same state.
(Processes on other machines do not; with several machines, give each its own share of the
limit.) Without a state file the limiter is per process.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import RateLimited
from core.paths import atomic_write, locked


class RateLimiter:
    def __init__(
        self,
        *,
        requests: int,
        window_seconds: float,
        lockout_seconds: float,
        state_file: Path | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.requests = requests
        self.window_seconds = window_seconds
        self.lockout_seconds = lockout_seconds
        self.state_file = Path(state_file) if state_file else None
        self._now = now
        self._memory: dict[str, Any] = {"stamps": [], "locked_until": 0.0}
        self._thread_lock = threading.Lock()

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        """Load, yield for change, and save the shared state under an exclusive lock.

        The lock is a `.lock` sibling and the state is replaced by an atomic write, so a crash
        mid-save leaves the previous state (a running lockout included), never a torn file.
        """
        with self._thread_lock:
            if self.state_file is None:
                yield self._memory
                return
            with locked(self.state_file):
                try:
                    text = self.state_file.read_text(encoding="utf-8")
                except FileNotFoundError:
                    text = ""
                try:
                    state = json.loads(text) if text else {}
                except json.JSONDecodeError:
                    state = {}  # written by an older version in place and torn: start afresh
                if not isinstance(state, dict):
                    state = {}
                state.setdefault("stamps", [])
                state.setdefault("locked_until", 0.0)
                yield state
                saved = json.dumps(state)
                if saved != text:
                    atomic_write(self.state_file, saved.encode("utf-8"), mode=0o600)

    def try_acquire(self) -> float:
        """Take a slot now and return 0.0, or return how many seconds until one frees.

        Raises RateLimited while a lockout (after a 429) is running.
        """
        now = self._now()
        with self._state() as state:
            locked_until = float(state["locked_until"])
            if locked_until > now:
                raise RateLimited(
                    f"the Stability API is locked out for another {locked_until - now:.0f} s "
                    "after too many requests; retry later",
                    retry_after=locked_until - now,
                )
            horizon = now - self.window_seconds
            stamps = [t for t in state["stamps"] if t > horizon]
            if len(stamps) >= self.requests:
                state["stamps"] = stamps
                return max(0.001, stamps[0] + self.window_seconds - now)
            stamps.append(now)
            state["stamps"] = stamps
            return 0.0

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait for a slot (at most `max_wait`, default one window); RateLimited otherwise."""
        limit = self.window_seconds if max_wait is None else max_wait
        waited = 0.0
        while True:
            wait = self.try_acquire()
            if wait == 0.0:
                return
            if waited + wait > limit:
                raise RateLimited(
                    f"the client-side limit of {self.requests} requests per "
                    f"{self.window_seconds:g} s is reached; retry later",
                    retry_after=wait,
                )
            await asyncio.sleep(wait)
            waited += wait

    def lock_out(self, seconds: float | None = None) -> None:
        """Refuse every request for `seconds` (default: the configured lockout)."""
        until = self._now() + (self.lockout_seconds if seconds is None else seconds)
        with self._state() as state:
            state["locked_until"] = max(float(state["locked_until"]), until)

    def locked_for(self) -> float:
        """Seconds left in the current lockout (0 when none)."""
        with self._state() as state:
            return max(0.0, float(state["locked_until"]) - self._now())
