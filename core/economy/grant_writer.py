"""One thread that applies message-driven writes (XP grants, profile refreshes) in batches.

A message makes small writes; run one by one through a pool of threads they contend for
SQLite's single writer and the GIL, and a burst of messages starves everything else (issue
#11: 470-608 messages/s, /rank p99 over 8 s). Here callers `submit` the core call and get a
`Future`; one thread takes everything queued (up to `max_batch`) and runs it inside one
`batch()` context: one `BEGIN IMMEDIATE` transaction on SQLite, nothing on MongoDB (each
write there is already one guarded single-document update). Every call keeps its own guard
inside its statement (the XP cooldown is in the grant's WHERE), so several processes stay
exact; coalescing only changes how many commits they share.

Failures: an `AbbyError` raised by one call before it wrote (bad id, ignored channel) fails
that call's future only. Anything else aborts the transaction: every future of the batch gets
the exception, none is half-applied.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from core.errors import AbbyError, ServiceUnavailable

log = logging.getLogger(__name__)

_STOP = object()


@dataclass
class _Job:
    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: Future[Any]


@dataclass
class WriterStats:
    batches: int = 0
    jobs: int = 0
    largest_batch: int = 0


class GrantWriter:
    def __init__(
        self,
        batch: Callable[[], AbstractContextManager[Any]] | None = None,
        *,
        max_batch: int = 1000,
        max_queue: int = 100_000,
        name: str = "abby-grant-writer",
    ) -> None:
        self._batch = batch or contextlib.nullcontext
        self._max_batch = max_batch
        self._queue: queue.Queue[_Job | object] = queue.Queue(maxsize=max_queue)
        self.stats = WriterStats()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:  # noqa: ANN401
        """Queue `function(*args, **kwargs)`; its result (or error) arrives in the future.

        Raises ServiceUnavailable when the writer is closed or its queue is full (the
        database cannot keep up): the caller drops that write rather than grow without end.
        """
        if self._closed:
            raise ServiceUnavailable("the grant writer is closed")
        job = _Job(function, args, kwargs, Future())
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ServiceUnavailable("the grant writer's queue is full") from None
        return job.future

    def close(self, timeout: float = 5.0) -> bool:
        """Apply what is queued, then stop the thread; False when it did not finish in time."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def pending(self) -> int:
        return self._queue.qsize()

    # --- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            jobs, stop = self._take()
            if jobs:
                self._apply(jobs)
            if stop:
                return

    def _take(self) -> tuple[list[_Job], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        jobs: list[_Job] = [first]  # type: ignore[list-item]
        while len(jobs) < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return jobs, True
            jobs.append(job)  # type: ignore[arg-type]
        return jobs, False

    def _apply(self, jobs: list[_Job]) -> None:
        results: list[tuple[bool, Any]] = []
        began = time.perf_counter()
        try:
            with self._batch():
                for job in jobs:
                    results.append(_call(job))
        except BaseException as exc:  # noqa: BLE001 - the batch was rolled back: fail them all
            log.warning("a batch of %d writes failed (%s)", len(jobs), type(exc).__name__)
            for job in jobs:
                job.future.set_exception(exc)
            return
        for job, (ok, value) in zip(jobs, results, strict=True):
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)
        self.stats.batches += 1
        self.stats.jobs += len(jobs)
        self.stats.largest_batch = max(self.stats.largest_batch, len(jobs))
        log.debug("applied %d writes in %.1f ms", len(jobs), (time.perf_counter() - began) * 1e3)


def _call(job: _Job) -> tuple[bool, Any]:
    try:
        return True, job.function(*job.args, **job.kwargs)
    except AbbyError as exc:
        if _wrote_nothing(exc):
            return False, exc
        raise


def _wrote_nothing(exc: AbbyError) -> bool:
    # Validation errors are raised before any statement; storage errors abort the batch.
    from core.errors import InvalidInput, NotFound, Refused

    return isinstance(exc, (InvalidInput, NotFound, Refused))
