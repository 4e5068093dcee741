"""`/kb`: moderators add files to this server's knowledge base, list and delete them.

Shown by default to members who can manage messages; the core checks the guild's moderator
roles again. An attachment is refused (type, emptiness, size) before it is downloaded, then
fetched by the core with a size cap and a deadline; every reply is private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.moderation import actor
from bot.render import COLOR_OK, NO_PINGS, defused
from core.moderation import Upload

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.rag.repository import DocumentRecord

LIST_LINES = 30  # a description holds 4,096 characters: 30 lines of at most ~125
STATUS_TEXT = {"added": "Added", "updated": "Updated", "unchanged": "Already up to date:"}


@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
class Kb(commands.GroupCog, group_name="kb", group_description="Moderators: this server's docs."):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    @app_commands.command(name="ingest", description="Add a file (.md .txt .rst .html .pdf).")
    @app_commands.describe(file="The document to add; same name again replaces it")
    async def ingest(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        moderation, who = self.bot.context.moderation, actor(interaction)
        upload = Upload(filename=file.filename, size=file.size, url=file.url)
        settings = self.bot.context.settings
        limit = settings.rag.max_file_bytes
        # Refusals (rights, type, size) answer at once; the download and embedding may not.
        await self.bot.run_core(moderation.check_upload, who, upload, max_bytes=limit)
        await interaction.response.defer(ephemeral=True, thinking=True)
        document = await moderation.ingest_upload(
            who, upload, max_bytes=limit, timeout=settings.discord.attachment_timeout_seconds
        )
        await interaction.followup.send(
            f"{STATUS_TEXT.get(document.status, 'Ingested')} **{defused(document.title)}** "
            f"({document.chunks} passages, id `{document.doc_id}`).",
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(name="list", description="The documents this server added.")
    async def list(self, interaction: discord.Interaction) -> None:
        records = await self.bot.run_core(self.bot.context.moderation.documents, actor(interaction))
        await interaction.response.send_message(
            embed=documents_embed(records), ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(name="delete", description="Delete one of this server's documents.")
    @app_commands.describe(document_id="The id /kb list shows")
    async def delete(
        self, interaction: discord.Interaction, document_id: app_commands.Range[str, 1, 64]
    ) -> None:
        record = await self.bot.run_core(
            self.bot.context.moderation.delete_document, actor(interaction), document_id
        )
        await interaction.response.send_message(
            f"Deleted **{defused(record.title)}** ({record.chunk_count} passages).",
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )


def documents_embed(records: list[DocumentRecord]) -> discord.Embed:
    lines = []
    for record in records[:LIST_LINES]:
        title = defused(" ".join(record.title.split()))
        title = title if len(title) <= 60 else title[:59] + "…"
        lines.append(f"`{record.doc_id}` {title} · {record.chunk_count} passages")
    if len(records) > LIST_LINES:
        lines.append(f"… and {len(records) - LIST_LINES} more (operators: `abby rag list`)")
    return discord.Embed(
        title=f"Knowledge base: {len(records)} documents",
        description="\n".join(lines) or "No documents added from this server yet.",
        color=COLOR_OK,
    )


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(Kb(bot))
