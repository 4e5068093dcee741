"""Relaying a streamed answer to Discord: one live message, edited at most once a second.

The first edit goes out as soon as the first token arrives; later ones wait until a second
has passed since the previous edit (Discord limits edits per channel; a member cannot read
faster anyway). Text past 2,000 characters continues in new messages, in order, split by
`bot.render.split_message` (paragraph, sentence or word boundaries, never inside a code
block); a part once followed by the next one is final. Everything shown is `defused` and
sent with `allowed_mentions` none, so neither the model nor a retrieved document can ping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import discord

from bot.render import CONTENT_LIMIT, NO_PINGS, close_open_fence, defused, split_message

EDIT_INTERVAL = 1.0  # seconds between two edits of the live message
CURSOR = " …"  # on the live part while the answer is still arriving


class Editable(Protocol):
    """A sent message the relay edits: a reply, an interaction's response, a follow-up."""

    async def edit(self, *, content: str, allowed_mentions: discord.AllowedMentions) -> object: ...


Post = Callable[[str], Awaitable[Editable]]  # send a new message with this content; returns it


def sources_line(titles: Sequence[str]) -> str:
    """The sources under an answer: titles only, as text (no links, no pings)."""
    shown = [discord.utils.escape_markdown(t)[:100] for t in titles if t]
    return "-# Sources: " + " · ".join(shown) if shown else ""


class StreamRelay:
    def __init__(
        self,
        first: Post,
        more: Post,
        *,
        interval: float = EDIT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._first = first  # the first message (an interaction's original response, a reply)
        self._more = more  # each message after it
        self._interval = interval
        self._clock = clock
        self._messages: list[Editable] = []
        self._shown: list[str] = []
        self._text = ""
        self._lead = ""
        self._last_edit = float("-inf")

    def lead(self, text: str) -> None:
        """Put `text` (the persona's greeting) above the streamed text, from the first edit."""
        self._lead = text.strip()

    async def feed(self, delta: str) -> None:
        """Add streamed text; show it if the live message may be edited now."""
        self._text += delta
        if self._text.strip() and self._clock() - self._last_edit >= self._interval:
            await self._show(final=False)

    async def finish(self, text: str) -> None:
        """Show the whole answer (greeting, reply, sources), waiting out the edit interval
        first; `text` replaces the lead and the streamed text."""
        self._text, self._lead = text, ""
        wait = self._interval - (self._clock() - self._last_edit)
        if self._messages and wait > 0:
            await asyncio.sleep(wait)
        await self._show(final=True)

    async def _show(self, *, final: bool) -> None:
        text = f"{self._lead}\n\n{self._text.lstrip()}" if self._lead else self._text
        parts = split_message(defused(text)) or ["…"]
        if not final:
            live = close_open_fence(parts[-1]) + CURSOR
            parts[-1] = live if len(live) <= CONTENT_LIMIT else parts[-1]
        for index, part in enumerate(parts):
            if index < len(self._messages):
                if self._shown[index] != part:
                    await self._edit(self._messages[index], part)
                    self._shown[index] = part
            else:
                post = self._first if index == 0 else self._more
                self._messages.append(await post(part))
                self._shown.append(part)
        self._last_edit = self._clock()

    async def _edit(self, message: Editable, content: str) -> None:
        await message.edit(content=content, allowed_mentions=NO_PINGS)

    @property
    def message_count(self) -> int:
        return len(self._messages)
