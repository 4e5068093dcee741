"""Voice XP: the bot remembers who is in which voice channel, and once a minute hands that
snapshot to the core, which pays every eligible member in one batched write.

The memory is a dict per guild updated from VOICE_STATE_UPDATE and seeded from the guild's
voice states at connect (GUILD_CREATE): no member list, no REST call, nothing per member on
the event loop beyond a dict write. Who is eligible (not muted, deafened, alone, a bot or
in the AFK channel) is the core's rule (`core.economy.voice`); the write runs on the grant
writer's thread, so the sweep costs the event loop a snapshot of the dict.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands, tasks

from bot.cogs.levels import announce_level_up

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.economy.repository import XpChange
    from core.economy.voice import VoiceMember

log = logging.getLogger(__name__)


def _state(member: discord.Member, state: discord.VoiceState) -> VoiceMember:
    from core.economy.voice import VoiceMember

    assert state.channel is not None
    return VoiceMember(
        user_id=str(member.id),
        channel_id=str(state.channel.id),
        self_mute=state.self_mute,
        self_deaf=state.self_deaf,
        mute=state.mute,
        deaf=state.deaf,
        bot=member.bot,
    )


class VoiceXp(commands.Cog):
    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot
        self.present: dict[int, dict[int, VoiceMember]] = {}  # guild -> member -> state
        self.sweep.change_interval(seconds=bot.context.settings.xp.voice_sweep_seconds)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # Started once connected, not at cog load: `abby bot sync`, `invite-url` and
        # `--dry-run` load the cogs without logging in, and the loop would fail there.
        if not self.sweep.is_running():
            self.sweep.start()

    async def cog_unload(self) -> None:
        self.sweep.cancel()

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        present: dict[int, VoiceMember] = {}
        for channel in (*guild.voice_channels, *guild.stage_channels):
            for user_id, state in channel.voice_states.items():
                member = guild.get_member(user_id)
                if member is not None and state.channel is not None:
                    present[user_id] = _state(member, state)
        self.present[guild.id] = present

    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        present = self.present.setdefault(member.guild.id, {})
        if after.channel is None:
            present.pop(member.id, None)
        else:
            present[member.id] = _state(member, after)

    @tasks.loop(seconds=60.0)
    async def sweep(self) -> None:
        from core.errors import AbbyError

        try:
            await self._sweep()
        except (AbbyError, discord.HTTPException) as exc:  # the next minute tries again
            log.warning("voice XP sweep: %s", exc)

    async def _sweep(self) -> None:
        for guild_id, present in list(self.present.items()):
            guild = self.bot.get_guild(guild_id)
            if guild is None or len(present) < 2:
                continue
            afk = str(guild.afk_channel.id) if guild.afk_channel else None
            changes = await self.bot.write(
                self.bot.context.xp.grant_voice,
                str(guild_id),
                list(present.values()),
                afk_channel_id=afk,
            )
            for change in changes:
                if change.announce:
                    await self._announce(guild, change, present)

    async def _announce(
        self, guild: discord.Guild, change: XpChange, present: dict[int, VoiceMember]
    ) -> None:
        member = guild.get_member(int(change.user_id))
        state = present.get(int(change.user_id))
        channel = guild.get_channel(int(state.channel_id)) if state is not None else None
        # A voice channel's own text chat when no announcement channel is configured.
        spoke_in = channel if isinstance(channel, discord.abc.Messageable) else None
        if member is not None:
            await announce_level_up(self.bot, guild, member, change.level, spoke_in=spoke_in)

    @sweep.before_loop
    async def _ready(self) -> None:
        await self.bot.wait_until_ready()
        # The first sweep pays for a minute spent in voice, so it waits one.
        await asyncio.sleep(self.bot.context.settings.xp.voice_sweep_seconds)


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(VoiceXp(bot))
