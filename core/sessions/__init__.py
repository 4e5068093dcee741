"""Conversation sessions: a user's exchange with the bot in one channel, encrypted at rest.

The service is `core.sessions.service.SessionService`, the records and the repository
interface are in `core.sessions.repository`; this package re-exports them. The seed's
`create_session`, `append_session_message` and `close_session` are shortcuts onto the current
context's service, so they work in a fresh process where only ABBY_DATA_DIR is set.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from core.sessions.repository import STATUSES, SessionRecord, SessionRepository
from core.sessions.service import (
    ROLES,
    Conversation,
    PurgeReport,
    SessionService,
    Transcript,
    TranscriptMessage,
)

__all__ = [
    "ROLES",
    "STATUSES",
    "Conversation",
    "PurgeReport",
    "SessionRecord",
    "SessionRepository",
    "SessionService",
    "Transcript",
    "TranscriptMessage",
    "append_session_message",
    "close_session",
    "create_session",
]


def create_session(user_id: str, channel_id: str, guild_id: str | None = None) -> str:
    """Open a conversation session; return its id."""
    from core.context import current

    return current().sessions.create(user_id, channel_id, guild_id)


def append_session_message(session_id: str, role: str, content: str) -> None:
    """Append one encrypted message (role: user, assistant, system or tool)."""
    from core.context import current

    current().sessions.append(session_id, role, content)


def close_session(session_id: str, summary: str | None = None) -> dict[str, Any]:
    """Close a session with an optional summary; return its metadata as a dict."""
    from core.context import current

    return dataclasses.asdict(current().sessions.close(session_id, summary))
