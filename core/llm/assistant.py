"""The Assistant: answering a member, the one use case behind `abby ask`, `abby chat`, the
bot's /ask and /chat, and a mention or summon of the bot.

The order is the point. Everything that can refuse is checked before the model is paid for:
an LLM is configured, the question is valid, the conversation can be stored (a key is
configured; the member's live session is found with one indexed lookup, which also reads
the history). Only then is the model called, and the question and its answer are written
together in one `append_many` (or, for a new conversation, in the write that opens it).

The database and retrieval calls are blocking; they run through `offload` (a worker thread
by default) so an event loop awaiting an answer never waits on them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput, OnCooldown
from core.llm.answer import build_prompt
from core.llm.conversation import DIRECT_CHANNEL

if TYPE_CHECKING:
    from core.config import ChatSettings
    from core.llm.client import LLMClient
    from core.persona.persona import PersonalityConfig
    from core.rag.service import QueryResult, RagService
    from core.sessions.service import SessionService

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4_000
SUMMARY_PROMPT = (
    "Summarise this conversation in at most three short sentences, for the member to keep. "
    "Plain text, no preamble."
)

Offload = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Source:
    """A document the answer was grounded in."""

    title: str
    source: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "source": self.source, "score": round(self.score, 4)}


@dataclass(frozen=True)
class Answer:
    reply: str
    sources: tuple[Source, ...] = ()
    session_id: str | None = None  # None when nothing was stored (no member given)
    new_conversation: bool = False
    greeting: str | None = None  # the persona's greeting when this answer opened one

    def to_dict(self) -> dict[str, Any]:
        return {
            "reply": self.reply,
            "sources": [s.to_dict() for s in self.sources],
            "session_id": self.session_id,
            "new_conversation": self.new_conversation,
            "greeting": self.greeting,
        }


@dataclass(frozen=True)
class Opening:
    """Streamed first when the answer opens a new conversation (known before the model is
    called), so a front end shows the persona's greeting with the first tokens; the
    Answer still comes last and carries the same greeting."""

    greeting: str | None = None


@dataclass(frozen=True)
class Closed:
    """A conversation that ended: its session, and what the member is told."""

    session_id: str
    line: str
    summary: str | None = None


@dataclass
class _Turn:
    """What `_prepare` found, handed to the model call and then to `_finish`."""

    question: str
    user_id: str | None
    guild_id: str | None
    channel_id: str
    user_name: str | None
    client: LLMClient
    persona: PersonalityConfig
    system_prompt: str
    prompt: str
    session_id: str | None
    history: list[dict[str, str]] = field(default_factory=list)
    sources: tuple[Source, ...] = ()
    greeting: str | None = None  # chosen once, so the streamed and the final text agree


class Assistant:
    def __init__(
        self,
        *,
        sessions: SessionService,
        llm: Callable[[], LLMClient],
        rag: Callable[[], RagService],
        persona: Callable[[str | None], PersonalityConfig],
        settings: ChatSettings,
        max_history: int = 20,
        offload: Offload | None = None,
    ) -> None:
        self._sessions = sessions
        self._llm = llm  # ConfigError when no LLM is configured: the first thing checked
        self._rag = rag
        self._persona = persona
        self._settings = settings
        self._max_history = max_history
        self._offload: Offload = offload or asyncio.to_thread

    # --- answering ----------------------------------------------------------------------

    async def answer(
        self,
        question: str,
        *,
        user_id: str | None = None,
        guild_id: str | None = None,
        channel_id: str = DIRECT_CHANNEL,
        use_docs: bool = False,
        persona: str | None = None,
        user_name: str | None = None,
        system_prompt: str | None = None,
        top_k: int | None = None,
    ) -> Answer:
        """Answer `question` in the persona's voice; with `user_id`, within that member's
        conversation in the guild and channel (remembered, encrypted).

        Raises, before any model call: ConfigError (no LLM), MissingKey (a member's
        conversation but no encryption key), InvalidInput (empty or too long). Then the
        LLM client's errors (RateLimited, ServiceUnavailable, ...), with nothing stored.
        """
        turn = await self._offload(
            self._prepare,
            question,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            use_docs=use_docs,
            persona_name=persona,
            user_name=user_name,
            system_prompt=system_prompt,
            top_k=top_k,
        )
        reply = await turn.client.generate(
            turn.prompt, system_prompt=turn.system_prompt, history=turn.history
        )
        return await self._offload(self._finish, turn, reply)

    async def stream(
        self,
        question: str,
        *,
        user_id: str | None = None,
        guild_id: str | None = None,
        channel_id: str = DIRECT_CHANNEL,
        use_docs: bool = False,
        persona: str | None = None,
        user_name: str | None = None,
        system_prompt: str | None = None,
        top_k: int | None = None,
    ) -> AsyncIterator[str | Opening | Answer]:
        """`answer`, streamed: an Opening first when this opens a new conversation (with
        the persona's greeting given a `user_name`), text deltas (str) as the model sends
        them, then one Answer (the whole reply, its sources, the session). The same checks
        come first; a stream that fails midway stores nothing."""
        turn = await self._offload(
            self._prepare,
            question,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            use_docs=use_docs,
            persona_name=persona,
            user_name=user_name,
            system_prompt=system_prompt,
            top_k=top_k,
        )
        if turn.user_id is not None and turn.session_id is None:
            yield Opening(turn.greeting)
        pieces: list[str] = []
        async for piece in turn.client.stream_generate(
            turn.prompt, system_prompt=turn.system_prompt, history=turn.history
        ):
            pieces.append(piece)
            yield piece
        yield await self._offload(self._finish, turn, "".join(pieces))

    def admit(self, user_id: str, guild_id: str | None = None) -> None:
        """Count one question against the member's `chat.rate_limit_per_minute`; OnCooldown
        when they reached it this minute (0 in the settings: no limit)."""
        limit = self._settings.rate_limit_per_minute
        if limit and not self._sessions.take_turn(user_id, guild_id, limit):
            raise OnCooldown(
                f"you can ask {limit} questions a minute; try again in a minute",
                retry_after=60,
            )

    def check_ready(self) -> None:
        """ConfigError when no LLM is configured (say so before anything else happens)."""
        self._llm()

    def _prepare(
        self,
        question: str,
        *,
        user_id: str | None = None,
        guild_id: str | None = None,
        channel_id: str = DIRECT_CHANNEL,
        use_docs: bool = False,
        persona_name: str | None = None,
        user_name: str | None = None,
        system_prompt: str | None = None,
        top_k: int | None = None,
    ) -> _Turn:
        client = self._llm()
        if not isinstance(question, str) or not question.strip():
            raise InvalidInput("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidInput(
                f"the question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}"
            )
        persona = self._persona(persona_name)
        session_id, history = None, []
        if user_id is not None:
            # The key first: without one the answer could not be kept, so it is not bought.
            self._sessions.require_key()
            found = self._sessions.active(user_id, channel_id, guild_id, history=self._max_history)
            if found is not None:
                session_id = found.session.session_id
                history = [
                    {"role": m.role, "content": m.content}
                    for m in found.messages
                    if m.content is not None and m.role in ("user", "assistant")
                ]
        results: list[QueryResult] = []
        if use_docs:
            results = self._rag().query(
                question, guild_id=guild_id, user_id=user_id, top_k=top_k or self._settings.top_k
            )
        return _Turn(
            question=question,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            user_name=user_name,
            client=client,
            persona=persona,
            system_prompt=system_prompt or persona.system_prompt,
            prompt=build_prompt(question, results),
            session_id=session_id,
            history=history,
            sources=_sources(results),
            greeting=(
                persona.greeting(user_name)
                if user_id is not None and session_id is None and user_name
                else None
            ),
        )

    def _finish(self, turn: _Turn, reply: str) -> Answer:
        if turn.user_id is None:
            return Answer(reply, turn.sources)
        session_id, new = self._sessions.record_exchange(
            turn.session_id,
            turn.user_id,
            turn.channel_id,
            turn.guild_id,
            [("user", turn.question), ("assistant", reply)],
        )
        # `new` is what the write found: a session another process opened meanwhile is
        # continued, and then there is no greeting after all.
        return Answer(reply, turn.sources, session_id, new, turn.greeting if new else None)

    # --- ending a conversation ----------------------------------------------------------

    def dismiss(
        self,
        *,
        user_id: str,
        guild_id: str | None = None,
        channel_id: str = DIRECT_CHANNEL,
        persona: str | None = None,
    ) -> Closed | None:
        """End the member's live conversation there with the persona's dismissal line;
        None when there is none (nothing to end, nothing said)."""
        found = self._sessions.active(user_id, channel_id, guild_id)
        if found is None:
            return None
        closed = self._sessions.close(found.session.session_id)
        return Closed(closed.session_id, self._persona(persona).dismissal())

    async def close(
        self,
        *,
        user_id: str,
        guild_id: str | None = None,
        channel_id: str = DIRECT_CHANNEL,
        persona: str | None = None,
    ) -> Closed | None:
        """End the member's live conversation with a summary the model writes (stored
        encrypted with the session); None when there is none. The model failing still
        closes it, without a summary."""
        found = await self._offload(
            self._sessions.active, user_id, channel_id, guild_id, history=self._max_history
        )
        if found is None:
            return None
        transcript = "\n".join(
            f"{m.role}: {m.content}" for m in found.messages if m.content is not None
        )
        summary: str | None = None
        if transcript:
            from core.errors import AbbyError

            try:
                summary = (
                    await self._llm().generate(transcript[-20_000:], system_prompt=SUMMARY_PROMPT)
                ).strip() or None
            except AbbyError as exc:  # the conversation still ends; only the summary is lost
                log.warning("no summary for session %s: %s", found.session.session_id, exc.code)
        record = await self._offload(self._sessions.close, found.session.session_id, summary)
        line = (await self._offload(self._persona, persona)).dismissal()
        return Closed(record.session_id, line, summary)


def _sources(results: list[QueryResult]) -> tuple[Source, ...]:
    """One entry per document, best first."""
    seen: dict[str, Source] = {}
    for result in results:
        if result.doc_id not in seen:
            seen[result.doc_id] = Source(result.title or result.source, result.source, result.score)
    return tuple(seen.values())
