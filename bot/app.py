"""The bot: built around an open core context, cogs loaded in setup_hook.

Blocking core calls (database, disk, Chroma) run through `asyncio.to_thread`, never on the
event loop. One error handler answers core errors with an ephemeral line and logs the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.limits import require_valid_tree
from bot.render import NO_PINGS, error_text
from core.errors import AbbyError

if TYPE_CHECKING:
    from core.context import AppContext

log = logging.getLogger(__name__)

# Extensions loaded at start-up; each domain adds its cog here.
COGS: tuple[str, ...] = (
    "bot.cogs.users",
    "bot.cogs.chat",
    "bot.cogs.economy",
    "bot.cogs.images",
    "bot.cogs.rag",
)


class AbbyBot(commands.AutoShardedBot):
    def __init__(self, context: AppContext, **options: object) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # message XP and chat read message text
        intents.members = False
        settings = context.settings.discord
        super().__init__(
            command_prefix=commands.when_mentioned_or(settings.command_prefix),
            intents=intents,
            shard_count=settings.shard_count,
            owner_ids=set(settings.owner_ids) or None,
            # Nothing the bot sends pings anyone unless that one call names who it addresses.
            allowed_mentions=NO_PINGS,
            **options,
        )
        self.context = context
        self.started = time.monotonic()
        self.tree.on_error = self.on_app_command_error

    async def setup_hook(self) -> None:
        # Services open their stores (migrations, the bank's recovery) on first use: do that
        # now in a worker thread, not on the event loop at a member's first command.
        await asyncio.to_thread(self.context.init_schema)
        for extension in COGS:
            await self.load_extension(extension)
        await self.sync_commands()
        self.heartbeat.change_interval(seconds=self.context.settings.telemetry.heartbeat_seconds)
        self.heartbeat.start()

    async def sync_commands(self) -> None:
        """Sync the command tree; raise ConfigError first if Discord would refuse it."""
        guilds = self.context.settings.discord.sync_guilds
        if guilds:
            for guild_id in guilds:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                require_valid_tree(self.tree, guild=guild)
                await self.tree.sync(guild=guild)
        else:
            require_valid_tree(self.tree)
            await self.tree.sync()

    @tasks.loop(seconds=60)
    async def heartbeat(self) -> None:
        await asyncio.to_thread(
            self.context.events.emit,
            "heartbeat",
            {
                "uptime_seconds": round(time.monotonic() - self.started, 1),
                "guilds": len(self.guilds),
                "latency_ms": round(self.latency * 1000, 1),
            },
        )

    async def run_core(self, function, /, *args, **kwargs):  # noqa: ANN001, ANN201
        """Run a blocking core call in a worker thread."""
        return await asyncio.to_thread(function, *args, **kwargs)

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        if isinstance(original, AbbyError):
            text = error_text(original)
        elif isinstance(error, app_commands.CheckFailure):
            text = "⚠️ You cannot use this command here."
        else:
            log.exception("slash command failed", exc_info=original)
            await asyncio.to_thread(
                self.context.events.emit,
                "error",
                {
                    "error_type": type(original).__name__,
                    "where": "slash_command",
                    "command": interaction.command.qualified_name if interaction.command else None,
                },
            )
            text = "Something went wrong on my side; the operators have been told."
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


def run(context: AppContext) -> None:
    """Run the bot until interrupted. The token comes from settings (never logged).

    Raises ConfigError for a missing or refused token or a missing privileged intent, and
    ServiceUnavailable when Discord cannot be reached.
    """
    import aiohttp

    from core.errors import ConfigError, ServiceUnavailable

    token = context.settings.discord.token
    if token is None:
        raise ConfigError(
            "no Discord token: set ABBY_DISCORD__TOKEN (or discord.token in a 0600 file)"
        )
    # Abby has no voice features; don't warn about voice libraries on every start.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    bot = AbbyBot(context)
    try:
        bot.run(token.get_secret_value(), log_handler=None)
    except discord.LoginFailure as exc:
        raise ConfigError("Discord refused the token (ABBY_DISCORD__TOKEN)") from exc
    except discord.PrivilegedIntentsRequired as exc:
        raise ConfigError(
            "Discord refused the message content intent: enable it for this bot in the "
            "Developer Portal (Bot > Privileged Gateway Intents)"
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise ServiceUnavailable("cannot reach Discord; check the network and retry") from exc
