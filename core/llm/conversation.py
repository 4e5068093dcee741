"""Conversations: a user's running exchange with the bot, kept as an encrypted session.

The seed's ConversationManager tracks one conversation per user (and per guild and channel
when given) on top of the sessions service, so history is encrypted at rest, expires after
the idle time, and is purged by retention like any other session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import SessionClosed

if TYPE_CHECKING:
    from core.sessions.service import SessionService

DIRECT_CHANNEL = "direct"


class ConversationManager:
    def __init__(self, *, sessions: SessionService, max_history: int = 20) -> None:
        self._sessions = sessions
        self._max_history = max_history

    def active_session(
        self, user_id: str, *, guild_id: str | None = None, channel_id: str = DIRECT_CHANNEL
    ) -> str | None:
        """The id of the user's active session in that guild and channel, if any."""
        found = self._sessions.active(user_id, channel_id, guild_id)
        return None if found is None else found.session.session_id

    def get_conversation(
        self,
        user_id: str,
        max_history: int | None = None,
        *,
        guild_id: str | None = None,
        channel_id: str = DIRECT_CHANNEL,
    ) -> list[dict[str, str]]:
        """The last messages as `{"role", "content"}`, oldest first ([] when none)."""
        limit = self._max_history if max_history is None else max_history
        found = self._sessions.active(user_id, channel_id, guild_id, history=limit)
        if found is None:
            return []
        return [
            {"role": m.role, "content": m.content}
            for m in found.messages
            if m.content is not None and m.role in ("user", "assistant")
        ]

    def append_message(
        self,
        user_id: str,
        role: str,
        content: str,
        *,
        guild_id: str | None = None,
        channel_id: str = DIRECT_CHANNEL,
    ) -> None:
        """Append to the active conversation, starting a new one when there is none."""
        session_id = self.active_session(user_id, guild_id=guild_id, channel_id=channel_id)
        if session_id is not None:
            try:
                self._sessions.append(session_id, role, content)
                return
            except SessionClosed:
                pass  # it expired or was closed since we looked: start a new one
        session_id = self._sessions.create(user_id, channel_id, guild_id)
        self._sessions.append(session_id, role, content)
