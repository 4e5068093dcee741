"""Telemetry events: one JSON object per line, appended to a size-rotated file.

Each event carries a schema version, a unique time-ordered id (UUIDv7 layout), its type, a
UTC timestamp and a payload. Emitting never raises into the caller: a failure is logged once
and the event dropped. Several processes (bot shards, cron) append to the same file; an
exclusive lock around rotate-and-append keeps lines whole and rotation single; a line left
torn by a writer that died is ended before the next append and skipped by the reader.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Payload keys that could carry user content are never written, whatever the caller passes.
FORBIDDEN_KEYS = frozenset({"prompt", "content", "text", "message_content", "messages", "password"})
_id_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_event_id() -> str:
    """A UUIDv7-style id: 48-bit millisecond time, then a counter and randomness.

    Ids sort by creation time, and within one process they are strictly increasing.
    """
    global _last_ms, _counter
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter >= 1 << 12:  # counter exhausted within one millisecond: borrow the next
                ms, _counter = ms + 1, 0
        else:
            _counter = 0
        _last_ms = ms
        counter = _counter
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    return str(uuid.UUID(int=value))


class EventLog:
    """Appends events to `path`, rotating at `max_bytes` and keeping `backup_count` files."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 10 * 1024 * 1024,
        backup_count: int = 5,
        enabled: bool = True,
        secrets: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self.enabled = enabled
        self._secrets = tuple(s for s in secrets if len(s) >= 6)
        self._failed = False
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> EventLog:
        return cls(
            settings.events_path,
            max_bytes=settings.telemetry.max_bytes,
            backup_count=settings.telemetry.backup_count,
            enabled=settings.telemetry.enabled,
            secrets=settings.secret_values(),
        )

    def emit(self, event_type: str, payload: Mapping[str, Any] | None = None) -> str | None:
        """Append one event; return its id, or None when it could not be written."""
        if not self.enabled:
            return None
        event_id = new_event_id()
        try:
            event = {
                "schema": SCHEMA_VERSION,
                "id": event_id,
                "type": str(event_type),
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "pid": os.getpid(),
                "payload": self._clean(payload or {}),
            }
            # allow_nan=False: a value _clean missed fails here rather than write bad JSON.
            line = json.dumps(event, ensure_ascii=False, allow_nan=False) + "\n"
            for secret in self._secrets:
                line = line.replace(secret, "***")
            self._append(line.encode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - telemetry must never break its caller
            if not self._failed:
                self._failed = True
                log.warning(
                    "telemetry disabled for this process: cannot write %s (%s)",
                    self.path,
                    type(exc).__name__,
                )
            return None
        return event_id

    def _clean(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for key, value in payload.items():
            if str(key).lower() in FORBIDDEN_KEYS:
                clean[str(key)] = "[redacted]"
            elif isinstance(value, Mapping):
                clean[str(key)] = self._clean(value)
            else:
                clean[str(key)] = self._json_value(value)
        return clean

    def _json_value(self, value: Any) -> Any:  # noqa: ANN401
        """A value strict JSON can hold: NaN and ±inf (which json.dumps would write as bare
        `NaN`/`Infinity`, breaking every reader) become null; sequences are cleaned item by
        item; anything else non-JSON becomes its text."""
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, (list, tuple, set, frozenset)):
            return [
                self._clean(v) if isinstance(v, Mapping) else self._json_value(v) for v in value
            ]
        if value is None or isinstance(value, (str, int, float)):
            return value
        return str(value)

    def _append(self, data: bytes) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_name(self.path.name + ".lock")
            with open(lock_path, "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    self._rotate_if_needed(len(data))
                    fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
                    try:
                        # A writer that died mid-line (crash, disk full) left no newline:
                        # end that line first, or this event would be glued to it and lost.
                        size = os.fstat(fd).st_size
                        if size and os.pread(fd, 1, size - 1) != b"\n":
                            data = b"\n" + data
                        os.write(fd, data)
                    finally:
                        os.close(fd)
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _rotate_if_needed(self, incoming: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size + incoming <= self.max_bytes:
            return
        if self.backup_count == 0:
            self.path.unlink()
            return
        for index in range(self.backup_count - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def files(self) -> list[Path]:
        """The event files, oldest first."""
        rotated = [
            self.path.with_name(f"{self.path.name}.{i}") for i in range(self.backup_count, 0, -1)
        ]
        return [p for p in [*rotated, self.path] if p.exists()]

    def read(self, *, event_type: str | None = None) -> Iterator[dict[str, Any]]:
        """Every readable event, oldest first; broken lines are skipped."""
        for path in self.files():
            with open(path, encoding="utf-8", errors="replace") as handle:
                yield from self._parse(handle, event_type)

    def tail(self, n: int, *, event_type: str | None = None) -> list[dict[str, Any]]:
        from collections import deque

        return list(deque(self.read(event_type=event_type), maxlen=n))

    def follow(
        self, *, last: int = 0, event_type: str | None = None, poll_seconds: float = 0.5
    ) -> Iterator[dict[str, Any]]:
        """Yield the last `last` events, then every event appended after them, until
        interrupted, across rotations.

        The current file is opened once and read on from exactly where the tail ended, so an
        event appended between the tail and the follow is neither lost nor repeated.
        """
        from collections import deque

        handle = None
        inode = None
        partial = b""
        backlog: deque[dict[str, Any]] = deque(maxlen=max(last, 0))
        if self.path.exists():
            handle = open(self.path, "rb")
            inode = os.fstat(handle.fileno()).st_ino
            data = handle.read()
            cut = data.rfind(b"\n") + 1
            partial = data[cut:]  # a line still being written is finished by the loop below
            current = data[:cut].decode("utf-8", "replace").splitlines()
        else:
            current = []
        if last > 0:
            for path in self.files():
                if path != self.path:
                    with open(path, encoding="utf-8", errors="replace") as rotated:
                        backlog.extend(self._parse(rotated, event_type))
            backlog.extend(self._parse(current, event_type))
        yield from backlog
        try:
            while True:
                if handle is None and self.path.exists():
                    handle = open(self.path, "rb")  # created after we started: all of it is new
                    inode = os.fstat(handle.fileno()).st_ino
                if handle is not None:
                    chunk = handle.read()
                    if chunk:
                        partial += chunk
                        *whole, partial = partial.split(b"\n")
                        yield from self._parse(
                            (line.decode("utf-8", "replace") for line in whole), event_type
                        )
                        continue
                    try:
                        if os.stat(self.path).st_ino != inode:  # rotated: read the new file
                            handle.close()
                            handle = open(self.path, "rb")
                            inode = os.fstat(handle.fileno()).st_ino
                            partial = b""
                            continue
                    except FileNotFoundError:
                        pass
                time.sleep(poll_seconds)
        finally:
            if handle is not None:
                handle.close()

    @staticmethod
    def _parse(lines: Iterable[str], event_type: str | None) -> Iterator[dict[str, Any]]:
        for line in lines:
            event = _parse_line(line)
            if event is not None and (event_type is None or event.get("type") == event_type):
                yield event


# Every event line starts with this (json.dumps' default separators, "schema" first).
_EVENT_START = '{"schema": '


def _parse_line(line: str) -> dict[str, Any] | None:
    """The event on `line`, or None when it holds none.

    A line that does not parse may be a torn event with a whole one glued after it (written
    before the writer ended torn lines): the last event start in it is tried before giving up.
    """
    try:
        event = json.loads(line)
    except ValueError:
        start = line.rfind(_EVENT_START)
        if start <= 0:
            return None
        try:
            event = json.loads(line[start:])
        except ValueError:
            return None
    return event if isinstance(event, dict) else None
