"""Governance events: the one collaborator every service reports what was done through.

Services take `events: Governance` (built by `core.context` over the event log) and call
`events.record("sessions.purge", {...}, actor=actor)`. The event type is `governance.<what>`;
with an `actor` argument the payload names who acted and through which front end (a named
actor is the CLI's operator, none is an API call). A service built without one gets
`Governance()`, which records nothing, so no service checks for None.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final, Literal, Protocol


class _Unset(enum.Enum):
    NO_ACTOR = enum.auto()


# "No actor argument" (the payload is left as it is), unlike actor=None ("unknown", via api).
_NO_ACTOR: Final = _Unset.NO_ACTOR
Actor = str | None | Literal[_Unset.NO_ACTOR]


class EventSink(Protocol):
    """What an event log offers (core.telemetry.events.EventLog, or a test's list)."""

    def emit(self, event_type: str, payload: Mapping[str, Any] | None = None) -> str | None: ...


class Governance:
    def __init__(self, sink: EventSink | None = None) -> None:
        self._sink = sink

    def record(
        self, what: str, payload: Mapping[str, Any] | None = None, *, actor: Actor = _NO_ACTOR
    ) -> None:
        """Emit `governance.<what>`; never raises into the caller (the sink swallows)."""
        self.emit(f"governance.{what}", payload, actor=actor)

    def emit(
        self, event_type: str, payload: Mapping[str, Any] | None = None, *, actor: Actor = _NO_ACTOR
    ) -> None:
        """Emit an event of another family (`rag_ingest`), with the same actor rule."""
        if self._sink is None:
            return
        data = dict(payload or {})
        if actor is not _NO_ACTOR:
            data = {"actor": actor or "unknown", "via": "cli" if actor else "api", **data}
        self._sink.emit(event_type, data)
