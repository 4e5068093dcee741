"""The bot's one error path, for slash commands, buttons and listeners.

A core refusal (an `AbbyError`) becomes a short line a member can read; its operator text
(setting names, paths, provider bodies) goes to the log only. Anything else becomes an apology
carrying a short reference id that is also in the log line and the `error` event, so an
operator can find the traceback a member reports. Interactions that expired (10062) or were
already answered (40060) are logged once as a warning and never answered again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.render import NO_PINGS, member_text
from core.errors import AbbyError

if TYPE_CHECKING:
    from core.context import AppContext

log = logging.getLogger(__name__)

UNKNOWN_INTERACTION = 10062
ALREADY_ACKNOWLEDGED = 40060
NOT_HERE = "⚠️ You cannot use this command here."


def reference_id() -> str:
    """A short id a member can quote and an operator can grep for."""
    return secrets.token_hex(4)


def apology(reference: str) -> str:
    return f"Something went wrong on my side; the operators have been told (ref `{reference}`)."


def is_stale(error: BaseException) -> bool:
    """An interaction Discord no longer lets us answer: expired, or answered already."""
    return isinstance(error, discord.HTTPException) and error.code in (
        UNKNOWN_INTERACTION,
        ALREADY_ACKNOWLEDGED,
    )


def unwrap(error: BaseException) -> BaseException:
    """The exception a command or view raised, out of discord.py's CommandInvokeError."""
    while isinstance(original := getattr(error, "original", None), BaseException):
        error = original
    return error


async def record_unexpected(
    context: AppContext, error: BaseException, where: str, name: str | None
) -> str:
    """Log the traceback and emit an ERROR event, both with a fresh reference id."""
    reference = reference_id()
    log.error("%s %s failed (ref %s)", where, name or "-", reference, exc_info=error)
    payload: dict[str, Any] = {
        "error_type": type(error).__name__,
        "where": where,
        "command": name,
        "reference": reference,
    }
    await asyncio.to_thread(context.events.emit, "error", payload)
    return reference


async def answer_failure(
    context: AppContext, interaction: discord.Interaction, error: BaseException, where: str
) -> None:
    """Answer a failed interaction privately; never raises."""
    error = unwrap(error)
    name = interaction.command.qualified_name if interaction.command else None
    if is_stale(error):
        log.warning(
            "%s %s: interaction %s could not be answered (%s)",
            where,
            name or "-",
            interaction.id,
            getattr(error, "code", "?"),
        )
        return
    if isinstance(error, AbbyError):
        log.info("%s %s refused: %s (%s)", where, name or "-", error, error.code)
        text = member_text(error)
    elif isinstance(error, app_commands.CheckFailure):
        text = NOT_HERE
    else:
        text = apology(await record_unexpected(context, error, where, name))
    try:
        await send_private(interaction, text)
    except discord.HTTPException as exc:
        # Expired or answered meanwhile (or Discord is down): the member cannot be told.
        log.warning(
            "%s %s: could not send the error reply (%s %s)",
            where,
            name or "-",
            exc.status,
            exc.code,
        )


async def send_private(interaction: discord.Interaction, text: str) -> None:
    """A private line, whatever was sent before. The first follow-up after a defer takes the
    defer's visibility, so after a public defer the deferred message is deleted first and the
    line follows up on its own (private) flags; a private defer is simply edited."""
    response = interaction.response
    if not response.is_done():
        await response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
        return
    if response.type == discord.InteractionResponseType.deferred_channel_message:
        if _deferred_privately(interaction):
            await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
            return
        await interaction.delete_original_response()
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)


def _deferred_privately(interaction: discord.Interaction) -> bool:
    return bool(interaction.extras.get("private_defer"))


async def defer(interaction: discord.Interaction, *, private: bool = False) -> None:
    """Defer (Discord waits up to 15 minutes) and remember the visibility for send_private."""
    interaction.extras["private_defer"] = private
    await interaction.response.defer(thinking=True, ephemeral=private)
