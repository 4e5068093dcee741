"""Voice XP: who in a guild's voice channels earns the minute's XP.

The bot keeps the voice states it is told about (GUILD_CREATE, VOICE_STATE_UPDATE) in
memory and, once a minute, hands a snapshot to `XpService.grant_voice`, which pays every
eligible member in one batched write. The rule is here, not in the bot: a member earns
only when not muted or deafened (by themselves or the server), not a bot, not in the AFK
channel, and with at least one other eligible human in the same channel.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VoiceMember:
    user_id: str
    channel_id: str
    self_mute: bool = False
    self_deaf: bool = False
    mute: bool = False
    deaf: bool = False
    bot: bool = False

    @property
    def listening(self) -> bool:
        return not (self.bot or self.self_mute or self.self_deaf or self.mute or self.deaf)


def eligible(members: Iterable[VoiceMember], *, afk_channel_id: str | None = None) -> list[str]:
    """User ids that earn voice XP now, in a stable order (by channel, then as given)."""
    by_channel: dict[str, list[str]] = defaultdict(list)
    for member in members:
        if member.listening and member.channel_id != afk_channel_id:
            by_channel[member.channel_id].append(member.user_id)
    ids: list[str] = []
    for channel in sorted(by_channel):
        present = list(dict.fromkeys(by_channel[channel]))
        if len(present) >= 2:  # alone (or only with muted members and bots) earns nothing
            ids.extend(present)
    return ids
