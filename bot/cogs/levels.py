"""Level rewards in Discord: level-up announcements and the loop that hands out reward roles.

The core leaves a pending mark for every member whose level changed (a message, voice,
`abby xp add`, an import: the CLI has no Discord connection). This cog reads the marks of
the bot's guilds every `xp.reward_poll_seconds` (and right after start-up), brings each
member's reward roles to what their level calls for, and clears the mark; a mark written
meanwhile survives, so nothing is lost across a restart and applying again changes nothing.
A role Discord refuses (403: above the bot's role, or no Manage Roles) is recorded once in
the core (an event and the `blocked` flag `/levels rewards` shows) and skipped from then on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands, tasks

from bot.render import pinging

if TYPE_CHECKING:
    from bot.app import AbbyBotBase
    from core.economy.rewards import PendingRoles

log = logging.getLogger(__name__)


async def announce_level_up(
    bot: AbbyBotBase,
    guild: discord.Guild,
    member: discord.abc.User,
    level: int,
    *,
    spoke_in: discord.abc.Messageable | None,
) -> None:
    """Post the guild's level-up line in its announcement channel (else where the member
    spoke); it pings that member only, never everyone or a role."""
    rewards = bot.context.xp.rewards
    spoke_id = None if spoke_in is None else str(getattr(spoke_in, "id", "")) or None
    found = await bot.run_core(
        rewards.announcement,
        str(guild.id),
        member_mention=member.mention,
        level=level,
        spoke_in=spoke_id,
    )
    if found is None:
        return
    target = spoke_in
    if found.channel_id != spoke_id:  # the configured announcement channel
        channel = guild.get_channel(int(found.channel_id)) if found.channel_id.isdigit() else None
        target = channel if isinstance(channel, discord.abc.Messageable) else None
    if target is None:
        log.warning("announcement channel %s not found in guild %s", found.channel_id, guild.id)
        return
    try:
        await target.send(found.text, allowed_mentions=pinging(member))
    except discord.Forbidden:
        log.warning("cannot announce in channel %s of guild %s", found.channel_id, guild.id)


class Levels(commands.Cog):
    # Reward roles are handed out by the bot; announcements are channel messages.
    bot_permissions = discord.Permissions(manage_roles=True, send_messages=True)

    def __init__(self, bot: AbbyBotBase) -> None:
        self.bot = bot
        self.reconcile.change_interval(seconds=bot.context.settings.xp.reward_poll_seconds)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # Started once connected, not at cog load: `abby bot sync`, `invite-url` and
        # `--dry-run` load the cogs without logging in, and the loop would fail there.
        if not self.reconcile.is_running():
            self.reconcile.start()

    async def cog_unload(self) -> None:
        self.reconcile.cancel()

    @tasks.loop(seconds=2.0)
    async def reconcile(self) -> None:
        from core.errors import AbbyError

        try:
            await self._reconcile()
        except AbbyError as exc:  # a database hiccup: the marks stay, the next tick retries
            log.warning("reward roles: %s", exc)

    async def _reconcile(self) -> None:
        guilds = {str(g.id): g for g in self.bot.guilds}
        if not guilds:
            return
        rewards = self.bot.context.xp.rewards
        items = await self.bot.run_core(rewards.pending, list(guilds), limit=100)
        refused: set[str] = set()  # roles refused this tick: the items read before skip them too
        for item in items:
            if await self._apply(guilds[item.guild_id], item, refused):
                await self.bot.run_core(rewards.done, item)

    @reconcile.before_loop
    async def _ready(self) -> None:
        await self.bot.wait_until_ready()

    async def _apply(self, guild: discord.Guild, item: PendingRoles, refused: set[str]) -> bool:
        """Bring one member's reward roles in line; False to keep the mark and retry."""
        from core.economy.rewards import plan

        if not item.rules.level_roles:
            return True
        member = guild.get_member(int(item.user_id))
        try:
            if member is None:
                member = await guild.fetch_member(int(item.user_id))
        except discord.NotFound:
            return True  # left the guild: nothing to give
        except discord.HTTPException as exc:
            log.warning("reward roles: cannot fetch member (%s); retrying", exc.status)
            return False
        todo = plan(item.rules, item.level, [str(r.id) for r in member.roles])
        reason = f"Abby: level {item.level} reward"
        steps = [(r, True) for r in todo.add] + [(r, False) for r in todo.remove]
        for role_id, adding in steps:
            if f"{guild.id}/{role_id}" in refused:
                continue
            role = discord.Object(id=int(role_id))
            try:
                if adding:
                    await member.add_roles(role, reason=reason)
                else:
                    await member.remove_roles(role, reason=reason)
            except discord.Forbidden as exc:
                refused.add(f"{guild.id}/{role_id}")
                await self._blocked(guild, role_id, f"{exc.status} {exc.text or 'Forbidden'}")
            except discord.NotFound:
                refused.add(f"{guild.id}/{role_id}")
                await self._blocked(guild, role_id, "the role no longer exists")
            except discord.HTTPException as exc:
                log.warning("reward role %s: HTTP %s; retrying", role_id, exc.status)
                return False
        return True

    async def _blocked(self, guild: discord.Guild, role_id: str, reason: str) -> None:
        rewards = self.bot.context.xp.rewards
        first = await self.bot.run_core(rewards.block, str(guild.id), role_id, reason=reason)
        if first:  # once, not on every member: the role stays skipped until set again
            log.warning(
                "guild %s: cannot hand out reward role %s (%s); move the bot's role above it "
                "and add the reward again", guild.id, role_id, reason,
            )  # fmt: skip


async def setup(bot: AbbyBotBase) -> None:
    await bot.add_cog(Levels(bot))
