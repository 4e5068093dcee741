"""A member's own data: `/privacy export` sends it to them, `/privacy forget` erases it.

Both go through the core's member-data service (`core.users.privacy`), the one behind
`abby user export` and `abby user forget`, and cover every server this bot serves: the data
is the member's, wherever it was collected. Each is a governance event, as from the CLI; the
actor is recorded as the member themselves, never by id (a forget event must not name them).

Export answers privately, at most once per `privacy.export_cooldown_seconds` per member
(it decrypts every conversation; the core keeps the window in the database): a deferred
ephemeral reply carrying the JSON file, gzipped when the plain file is over the attachment
limit Discord gives the interaction, and a line saying so when even that is too big. Forget
first shows what would be erased, with Confirm and Cancel buttons that only the member who
asked can press; nothing is erased unless Confirm is pressed before the buttons expire.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from io import BytesIO
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.failures import answer_failure, defer
from bot.render import NO_PINGS, opens_at
from core.errors import ExportOnCooldown
from core.scope import Scope
from core.users.privacy import export_json

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.users.privacy import ForgetReport, MemberData

log = logging.getLogger(__name__)

ACTOR = "discord member (self)"
# How long the Confirm button waits; well inside the 15 minutes an interaction token lives,
# so the expiry can still edit the message.
CONFIRM_SECONDS = 60.0
EXPORT_LINE = (
    "Everything I hold about you, in every server I serve: profile, XP, balances and ledger,"
    " conversations, image records and documents you added. Only you can see this message;"
    " save the file before you dismiss it."
)
NOT_YOURS = "Only the member who asked can answer this."
CANCELLED = "Cancelled: nothing was erased."
EXPIRED = "No answer within a minute: nothing was erased. Run `/privacy forget` again if you wish."


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def export_file(data: bytes, user_id: str, limit: int) -> discord.File | None:
    """The export as an attachment within `limit` bytes: plain JSON, else gzipped JSON,
    else None (too big to attach even compressed)."""
    name = f"abby-data-{user_id}.json"
    if len(data) > limit:
        data, name = gzip.compress(data, compresslevel=6, mtime=0), name + ".gz"
    if len(data) > limit:
        return None
    return discord.File(BytesIO(data), filename=name)


def forget_plan(report: ForgetReport) -> str:
    held = [
        f"{report.profiles} profile(s)",
        f"{report.xp_records} XP record(s)",
        f"{report.sessions} conversation(s) with {report.messages} message(s)",
        f"{report.files} stored file(s)",
    ]
    ledger = (
        f" Your {report.ledger_rows} bank ledger row(s) stay, under a pseudonym instead of"
        " your id, so the books still balance."
        if report.ledger_rows
        else ""
    )
    return (
        f"This erases, in every server I serve: {', '.join(held)}.{ledger}"
        " It cannot be undone. Confirm within a minute, or Cancel."
    )


def forget_done(report: ForgetReport) -> str:
    if report.already_forgotten:
        return "There was nothing left to erase: your data was already forgotten."
    return (
        f"Erased: {report.profiles} profile(s), {report.xp_records} XP record(s),"
        f" {report.sessions} conversation(s), {report.files} stored file(s)."
        f" {report.ledger_rows} ledger row(s) now carry a pseudonym."
    )


class ForgetConfirmation(discord.ui.View):
    """Confirm / Cancel for one member's erasure; expires after CONFIRM_SECONDS."""

    def __init__(
        self, cog: Privacy, origin: discord.Interaction, *, timeout: float = CONFIRM_SECONDS
    ) -> None:
        super().__init__(timeout=timeout)
        self.cog = cog
        self.origin = origin
        self.member_id = origin.user.id
        self.answered = False

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.member_id:
            await interaction.response.send_message(
                NOT_YOURS, ephemeral=True, allowed_mentions=NO_PINGS
            )
            return False
        if self.answered:  # a second press racing the first: the first one decides
            await interaction.response.defer()
            return False
        self.answered = True
        self.stop()
        return True

    @discord.ui.button(
        label="Confirm", style=discord.ButtonStyle.danger, custom_id="privacy:forget"
    )
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.defer()  # erasing files can take longer than 3 s
        report = await self.cog.bot.run_core(
            self.cog.privacy.forget, str(self.member_id), scope=Scope.EVERY, actor=ACTOR
        )
        await interaction.edit_original_response(
            content=forget_done(report), view=None, allowed_mentions=NO_PINGS
        )

    @discord.ui.button(
        label="Cancel", style=discord.ButtonStyle.secondary, custom_id="privacy:keep"
    )
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(
            content=CANCELLED, view=None, allowed_mentions=NO_PINGS
        )

    async def on_timeout(self) -> None:
        if self.answered:
            return
        try:
            await self.origin.edit_original_response(
                content=EXPIRED, view=None, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as exc:  # dismissed by the member, or Discord is down
            log.info("could not mark a forget confirmation expired (%s)", exc.status)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        await answer_failure(self.cog.bot.context, interaction, error, "button")


class Privacy(
    commands.GroupCog, group_name="privacy", group_description="Your data: get a copy or erase it."
):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot

    @property
    def privacy(self) -> MemberData:
        return self.bot.context.privacy

    @app_commands.command(name="export", description="Get a file with everything I hold about you.")
    async def export(self, interaction: discord.Interaction) -> None:
        await defer(interaction, private=True)
        user_id = str(interaction.user.id)
        try:
            document = await self.bot.run_core(self.privacy.export_own, user_id, actor=ACTOR)
        except ExportOnCooldown as exc:
            await interaction.followup.send(
                f"⏳ You exported your data recently; the next export opens {opens_at(exc)}.",
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
            return
        data = await asyncio.to_thread(export_json, document)
        limit = interaction.filesize_limit
        attachment = await asyncio.to_thread(export_file, data, user_id, limit)
        if attachment is None:
            await interaction.followup.send(
                f"Your data is {_megabytes(len(data))}, more than the {_megabytes(limit)}"
                " Discord lets me attach, even compressed. The server's operators can export"
                " it for you.",
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
            return
        line = EXPORT_LINE
        if attachment.filename.endswith(".gz"):
            line += f" It is gzipped: as plain JSON it is {_megabytes(len(data))}."
        await interaction.followup.send(
            line, file=attachment, ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(name="forget", description="Erase everything I hold about you.")
    async def forget(self, interaction: discord.Interaction) -> None:
        await defer(interaction, private=True)
        # A dry run: what would go, and UnknownUser (a private line) when nothing is held.
        plan = await self.bot.run_core(
            self.privacy.forget, str(interaction.user.id), scope=Scope.EVERY, dry_run=True
        )
        if plan.already_forgotten:
            await interaction.edit_original_response(
                content=forget_done(plan), allowed_mentions=NO_PINGS
            )
            return
        await interaction.edit_original_response(
            content=forget_plan(plan),
            view=ForgetConfirmation(self, interaction),
            allowed_mentions=NO_PINGS,
        )


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(Privacy(bot))
