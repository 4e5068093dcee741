"""Images: `/imagine` generates an image for the caller; its buttons act for the caller only.

The cog is thin: it defers (generation takes seconds), hands the request to the core's
generation service (quota reservation, Stability call, storage), and sends the stored image
as a follow-up file with five buttons: Regenerate, Vary, Upscale, Keep, Delete. The buttons
are dynamic items (`abby:image:<action>:<file id>`), so they keep working after a restart;
the file's record says who may press them. A press charges exactly what the command does
(the same core call). `/gallery` lists the caller's kept images, privately and in pages,
and shows one with its buttons. `/quota` shows the caller's limits. Errors reach the bot's
one handler.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AbbyBotBase
from bot.failures import answer_failure, defer, send_private
from bot.render import NO_PINGS, defused, embed
from bot.where import guild_of, scope_of
from core.errors import UnknownFile
from core.images.validation import ASPECT_RATIOS, STYLE_PRESETS, check_prompt

if TYPE_CHECKING:
    from core.images.generation import GenerationResult, GenerationService, Requester
    from core.storage.repository import FileRecord

STYLE_CHOICES = [app_commands.Choice(name=s, value=s) for s in STYLE_PRESETS]
ASPECT_CHOICES = [app_commands.Choice(name=a, value=a) for a in ASPECT_RATIOS]
NOT_YOURS = "Only the person who asked for this image can use its buttons."
GONE = "⚠️ This image is no longer stored."
KEPT = "📌 Kept: cleanup leaves it alone, and `/gallery` lists it."
DELETED = "🗑️ Deleted."
EMPTY_GALLERY = "You have not kept any images yet: press 📌 Keep under one."
GALLERY_PAGE = 10
MAX_GALLERY = 100_000
PROMPT_SHOWN = 120
# action -> (label, emoji, style); the order is the buttons' order.
ACTIONS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "regen": ("Regenerate", "🔁", discord.ButtonStyle.secondary),
    "vary": ("Vary", "🎲", discord.ButtonStyle.secondary),
    "upscale": ("Upscale", "🔍", discord.ButtonStyle.primary),
    "keep": ("Keep", "📌", discord.ButtonStyle.success),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
}


def _filename(result: GenerationResult) -> str:
    extension = {"image/jpeg": "jpg", "image/webp": "webp"}.get(result.content_type, "png")
    return f"abby-{result.file_id[:12]}.{extension}"


def _caption(result: GenerationResult) -> str:
    daily = result.quota["daily"]
    seed = f"seed {result.seed} · " if result.seed is not None else ""
    return f"{seed}{daily['remaining']} of {daily['limit']} left today"


class ImageButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"abby:image:(?P<action>regen|vary|upscale|keep|delete):(?P<file_id>[0-9a-f]{32})",
):
    """One button under a stored image. Its custom id names only the action and the file:
    it works after a restart (registered with `add_dynamic_items`), and who may press it
    comes from the file's record, never from the id."""

    def __init__(self, action: str, file_id: str, *, kept: bool = False) -> None:
        label, emoji, style = ACTIONS[action]
        done = action == "keep" and kept
        super().__init__(
            discord.ui.Button(
                label="Kept" if done else label,
                emoji=emoji,
                style=style,
                custom_id=f"abby:image:{action}:{file_id}",
                disabled=done,
            )
        )
        self.action = action
        self.file_id = file_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item,
        match: re.Match[str],
        /,
    ) -> ImageButton:
        return cls(match["action"], match["file_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client = interaction.client
        cog = client.get_cog("Images") if isinstance(client, AbbyBotBase) else None
        if isinstance(cog, Images):
            await cog.press(interaction, self.action, self.file_id)


def image_buttons(file_id: str, *, kept: bool = False) -> discord.ui.View:
    """The five buttons of a stored image, in one row (Discord allows five)."""
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        view.add_item(ImageButton(action, file_id, kept=kept))
    return view


class Images(commands.Cog):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        # Buttons of images sent before this process started still reach `press`.
        self.bot.add_dynamic_items(ImageButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ImageButton)

    @property
    def images(self) -> GenerationService:
        return self.bot.context.images

    async def requester_for(self, interaction: discord.Interaction) -> Requester:
        from core.images.generation import requester

        guild_id = guild_of(interaction)
        member = interaction.user
        roles = [str(r.id) for r in getattr(member, "roles", ()) if not r.is_default()]
        level = await self.bot.run_core(
            self.bot.context.xp.level, str(member.id), guild_id=guild_id
        )
        return requester(str(member.id), guild_id, roles, level)

    async def send_result(self, interaction: discord.Interaction, result: GenerationResult) -> None:
        data = await self.bot.run_core(self.bot.context.storage.read, result.file_id)
        await interaction.followup.send(
            content=_caption(result),
            file=discord.File(io.BytesIO(data), filename=_filename(result)),
            view=image_buttons(result.file_id),
            allowed_mentions=NO_PINGS,
        )

    async def press(self, interaction: discord.Interaction, action: str, file_id: str) -> None:
        """A button under a stored image: only its owner (from the record) may use it; a
        generating press defers within Discord's 3 s, then follows up with the new image."""
        storage = self.bot.context.storage
        member = str(interaction.user.id)
        try:
            try:
                record = await self.bot.run_core(storage.get, file_id)
            except UnknownFile:
                await _private(interaction, GONE)
                return
            if record.user_id != member:
                await _private(interaction, NOT_YOURS)
                return
            if action == "keep":
                await self.bot.run_core(storage.keep, file_id, member)
                await interaction.response.edit_message(
                    view=image_buttons(file_id, kept=True), allowed_mentions=NO_PINGS
                )
                await interaction.followup.send(KEPT, ephemeral=True, allowed_mentions=NO_PINGS)
                return
            if action == "delete":
                await self.bot.run_core(storage.remove_owned, file_id, member)
                await interaction.response.edit_message(
                    content=DELETED,
                    attachments=[],
                    embeds=[],
                    view=None,
                    allowed_mentions=NO_PINGS,
                )
                return
            await defer(interaction)
            who = await self.requester_for(interaction)
            if action == "regen":
                result = await self.images.regenerate(who, file_id)
            elif action == "vary":
                result = await self.images.vary(who, file_id)
            else:
                result = await self.images.upscale_stored(who, file_id)
            await self.send_result(interaction, result)
        except UnknownFile:  # deleted meanwhile (a second press, or the operator)
            await send_private(interaction, GONE)
        except Exception as exc:  # noqa: BLE001 - discord.py only logs a dynamic item's errors
            await answer_failure(self.bot.context, interaction, exc, "button")

    @app_commands.command(name="imagine", description="Generate an image from a description.")
    @app_commands.describe(
        prompt="What the image should show",
        style="A style preset",
        aspect="Aspect ratio (default 1:1)",
    )
    @app_commands.choices(style=STYLE_CHOICES[:25], aspect=ASPECT_CHOICES)
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        style: app_commands.Choice[str] | None = None,
        aspect: app_commands.Choice[str] | None = None,
    ) -> None:
        # A prompt the core refuses (blank, too long) is answered privately before deferring:
        # after a public defer the first follow-up would be public too.
        check_prompt(prompt)
        await interaction.response.defer(thinking=True)
        who = await self.requester_for(interaction)
        result = await self.images.generate(
            who,
            prompt,
            style=style.value if style else None,
            aspect_ratio=aspect.value if aspect else None,
        )
        await self.send_result(interaction, result)

    @app_commands.command(name="gallery", description="Your kept images (only you see them).")
    @app_commands.describe(show="Show one of them: its number in the list")
    async def gallery(
        self,
        interaction: discord.Interaction,
        show: app_commands.Range[int, 1, MAX_GALLERY] | None = None,
    ) -> None:
        from bot.pages import Page, send_pages

        storage = self.bot.context.storage
        member = str(interaction.user.id)
        scope = scope_of(interaction)
        if show is not None:
            await defer(interaction, private=True)
            found = await self.bot.run_core(
                storage.kept_files, member, scope, offset=show - 1, limit=1
            )
            if not found:
                await send_private(interaction, f"⚠️ Your gallery has no image {show}.")
                return
            data = await self.bot.run_core(storage.read, found[0].file_id, member)
            await interaction.followup.send(
                content=_entry(show, found[0]),
                file=discord.File(io.BytesIO(data), filename=_stored_name(found[0])),
                view=image_buttons(found[0].file_id, kept=True),
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
            return

        async def fetch(index: int) -> Page:
            first = index * GALLERY_PAGE
            rows = await self.bot.run_core(
                storage.kept_files, member, scope, offset=first, limit=GALLERY_PAGE + 1
            )
            return Page(_gallery_embed(rows[:GALLERY_PAGE], first), len(rows) > GALLERY_PAGE)

        await send_pages(interaction, fetch, ephemeral=True)

    @app_commands.command(name="quota", description="Show your image quota.")
    async def quota(self, interaction: discord.Interaction) -> None:
        who = await self.requester_for(interaction)
        status = await self.bot.run_core(
            self.bot.context.quota.status, who.user_id, who.guild_id, who.roles, who.level
        )
        daily, user = status.daily, status.user
        await interaction.response.send_message(
            embed=embed(
                "Your image quota",
                {
                    "Today": f"{daily.remaining} of {daily.limit} left",
                    "Resets in": f"{daily.reset_hours:.1f} h",
                    "Storage": f"{user.used_mb:.1f} of {user.limit_mb:g} MB ({user.status})",
                },
            ),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )


def _stored_name(record: FileRecord) -> str:
    extension = {"image/jpeg": "jpg", "image/webp": "webp"}.get(record.content_type, "png")
    return f"abby-{record.file_id[:12]}.{extension}"


def _entry(number: int, record: FileRecord) -> str:
    """One gallery line: its number, the prompt (a member's text: defused) and the date."""
    prompt = record.metadata.get("prompt")
    text = prompt if isinstance(prompt, str) and prompt.strip() else "(no prompt)"
    if len(text) > PROMPT_SHOWN:
        text = text[: PROMPT_SHOWN - 1] + "…"
    shown = defused(discord.utils.escape_markdown(" ".join(text.split())))
    return f"**{number}.** {shown} · {discord.utils.format_dt(record.created_at, 'D')}"


def _gallery_embed(records: list[FileRecord], first: int) -> discord.Embed:
    if not records and first == 0:
        return embed("Your gallery", {}, description=EMPTY_GALLERY)
    lines = [_entry(first + n, record) for n, record in enumerate(records, 1)]
    card = embed("Your gallery", {}, description="\n".join(lines) or "No more images.")
    card.set_footer(text="/gallery show:<number> shows one with its buttons")
    return card


async def _private(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(Images(bot))
