"""Paginated answers: one embed per page, Prev/Next buttons that only the invoker can turn.

A cog hands `send_pages` a `fetch(page_index)` that runs its core call through
`bot.run_core` and builds the embed, so a page is read when it is shown (a leaderboard
stays current, and nothing is held in memory for pages nobody opens).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from bot.failures import answer_failure
from bot.render import NO_PINGS

log = logging.getLogger(__name__)

PREV, NEXT = "pages:prev", "pages:next"
# Discord wants a button answered within 3 s; a slower page is deferred, then edited in.
_ANSWER_WITHIN = 2.0
# The buttons edit through the interaction token, which Discord honours for 15 minutes.
TIMEOUT = 180.0


@dataclass(frozen=True)
class Page:
    embed: discord.Embed
    has_next: bool


Fetch = Callable[[int], Awaitable[Page]]


def not_yours(owner: discord.abc.User) -> str:
    return f"⚠️ Only {owner.mention} can turn these pages."


class PageView(discord.ui.View):
    """Prev/Next over `fetch`; presses by anyone but `owner` get a private line."""

    def __init__(
        self, owner: discord.abc.User, fetch: Fetch, page: Page, *, timeout: float
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner, self.fetch, self.page = owner, fetch, page
        self.index = 0
        self.message: discord.InteractionMessage | discord.WebhookMessage | None = None
        self._turning = asyncio.Lock()  # two quick presses turn one page at a time
        self._sync()

    def _sync(self) -> None:
        self.prev.disabled = self.index == 0
        self.next.disabled = not self.page.has_next

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner.id:
            return True
        await interaction.response.send_message(
            not_yours(self.owner), ephemeral=True, allowed_mentions=NO_PINGS
        )
        return False

    @discord.ui.button(label="Prev", emoji="◀️", style=discord.ButtonStyle.secondary, custom_id=PREV)
    async def prev(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary, custom_id=NEXT)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, +1)

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        if self._turning.locked():  # another press is loading: answer this one now
            await interaction.response.defer()
        async with self._turning:
            index = max(0, self.index + step)
            loading = asyncio.ensure_future(self.fetch(index))
            done, _ = await asyncio.wait({loading}, timeout=_ANSWER_WITHIN)
            if not done and not interaction.response.is_done():
                await interaction.response.defer()  # type 6: the message stays as it is
            page = await loading
            self.index, self.page = index, page
            self._sync()
            if interaction.response.is_done():
                await interaction.edit_original_response(
                    embed=page.embed, view=self, allowed_mentions=NO_PINGS
                )
            else:
                await interaction.response.edit_message(
                    embed=page.embed, view=self, allowed_mentions=NO_PINGS
                )

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        context = getattr(interaction.client, "context", None)
        if context is None:
            log.error("pages: a press failed", exc_info=error)
            return
        await answer_failure(context, interaction, error, "pages")

    async def on_timeout(self) -> None:
        self.prev.disabled = self.next.disabled = True
        if self.message is None:
            return
        try:
            await self.message.edit(view=self, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:  # deleted meanwhile, or the token expired
            log.info("pages: could not disable the buttons (%s %s)", exc.status, exc.code)


async def send_pages(
    interaction: discord.Interaction,
    fetch: Fetch,
    *,
    ephemeral: bool = False,
    timeout: float = TIMEOUT,
) -> None:
    """Answer `interaction` with page 0 of `fetch` and Prev/Next buttons for its invoker.

    `fetch(index)` (from 0) runs its own core calls through `bot.run_core`; its errors reach
    the caller for page 0 and the bot's failure reply for later pages. After a defer the
    pages arrive as the follow-up (keeping the defer's visibility, as Discord does)."""
    page = await fetch(0)
    view = PageView(interaction.user, fetch, page, timeout=min(timeout, 14 * 60.0))
    if interaction.response.is_done():
        view.message = await interaction.followup.send(
            embed=page.embed,
            view=view,
            ephemeral=ephemeral,
            allowed_mentions=NO_PINGS,
            wait=True,
        )
        return
    sent = await interaction.response.send_message(
        embed=page.embed, view=view, ephemeral=ephemeral, allowed_mentions=NO_PINGS
    )
    if isinstance(sent.resource, discord.InteractionMessage):
        view.message = sent.resource
