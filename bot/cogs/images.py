"""Images: `/imagine` generates an image for the caller; its buttons act for the caller only.

The cog is thin: it defers (generation takes seconds), hands the request to the core's
generation service (quota reservation, Stability call, storage), and sends the stored image
as a follow-up file. `/quota` shows the caller's limits. Errors reach the bot's one handler.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.failures import answer_failure
from bot.render import NO_PINGS, embed
from core.images.validation import ASPECT_RATIOS, STYLE_PRESETS, check_prompt

if TYPE_CHECKING:
    from core.images.generation import GenerationResult, Requester

STYLE_CHOICES = [app_commands.Choice(name=s, value=s) for s in STYLE_PRESETS]
ASPECT_CHOICES = [app_commands.Choice(name=a, value=a) for a in ASPECT_RATIOS]
NOT_YOURS = "Only the person who asked for this image can use its buttons."


def _filename(result: GenerationResult) -> str:
    extension = {"image/jpeg": "jpg", "image/webp": "webp"}.get(result.content_type, "png")
    return f"abby-{result.file_id[:12]}.{extension}"


def _caption(result: GenerationResult) -> str:
    daily = result.quota["daily"]
    seed = f"seed {result.seed} · " if result.seed is not None else ""
    return f"{seed}{daily['remaining']} of {daily['limit']} left today"


class ImageView(discord.ui.View):
    """Buttons under a generated image. Only its owner may press them."""

    def __init__(self, cog: Images, requester: Requester, file_id: str) -> None:
        super().__init__(timeout=900)
        self.cog = cog
        self.requester = requester
        self.file_id = file_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if str(interaction.user.id) == self.requester.user_id:
            return True
        await interaction.response.send_message(
            NOT_YOURS, ephemeral=True, allowed_mentions=NO_PINGS
        )
        return False

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        await answer_failure(self.cog.bot.context, interaction, error, "button")

    @discord.ui.button(label="Upscale", style=discord.ButtonStyle.primary, emoji="🔍")
    async def upscale(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.defer(thinking=True)
        result = await self.cog.images.upscale_stored(self.requester, self.file_id)
        await self.cog.send_result(interaction, result, self.requester)

    @discord.ui.button(label="Delete", style=discord.ButtonStyle.danger, emoji="🗑️")
    async def delete(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.cog.bot.run_core(self.cog.bot.context.storage.remove, self.file_id)
        self.stop()
        await interaction.response.edit_message(
            content="Deleted.", attachments=[], embeds=[], view=None, allowed_mentions=NO_PINGS
        )


class Images(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @property
    def images(self):  # noqa: ANN201
        return self.bot.context.images

    async def requester_for(self, interaction: discord.Interaction) -> Requester:
        from core.images.generation import requester

        guild_id = str(interaction.guild_id) if interaction.guild_id else None
        member = interaction.user
        roles = [r.name for r in getattr(member, "roles", ()) if not r.is_default()]
        level = await self.bot.run_core(
            self.bot.context.xp.level, str(member.id), guild_id=guild_id
        )
        return requester(str(member.id), guild_id, roles, level)

    async def send_result(
        self, interaction: discord.Interaction, result: GenerationResult, who: Requester
    ) -> None:
        data = await self.bot.run_core(self.bot.context.storage.read, result.file_id)
        await interaction.followup.send(
            content=_caption(result),
            file=discord.File(io.BytesIO(data), filename=_filename(result)),
            view=ImageView(self, who, result.file_id),
            allowed_mentions=NO_PINGS,
        )

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
        await self.send_result(interaction, result, who)

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


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Images(bot))
