"""Logging and telemetry: the seed's setup_logging and emit_* functions.

The emit functions write to the current context's event log and never raise.
"""

from __future__ import annotations

import logging
from typing import Any

from core.telemetry.events import EventLog, new_event_id
from core.telemetry.logs import setup_logging

__all__ = [
    "EventLog",
    "emit_error",
    "emit_governance_event",
    "emit_heartbeat",
    "new_event_id",
    "setup_logging",
]

log = logging.getLogger(__name__)


def _emit(event_type: str, payload: dict[str, Any]) -> str | None:
    try:
        from core.context import current

        return current().events.emit(event_type, payload)
    except Exception as exc:  # noqa: BLE001 - telemetry never raises into its caller
        log.warning("telemetry event %s dropped (%s)", event_type, type(exc).__name__)
        return None


def emit_heartbeat(
    uptime_seconds: float, active_sessions: int = 0, pending_submissions: int = 0
) -> str | None:
    """Record that the process is alive."""
    return _emit(
        "heartbeat",
        {
            "uptime_seconds": uptime_seconds,
            "active_sessions": active_sessions,
            "pending_submissions": pending_submissions,
        },
    )


def emit_error(error_type: str, message: str, recovery_action: str | None = None) -> str | None:
    """Record an error and what was done about it (no user content in `message`)."""
    return _emit(
        "error",
        {"error_type": error_type, "error_message": message, "recovery_action": recovery_action},
    )


def emit_governance_event(event_type: str, payload: dict[str, Any] | None = None) -> str | None:
    """Record an operator action (rotation, purge, dump): who, what, counts — never content."""
    return _emit(f"governance.{event_type}", dict(payload or {}))
