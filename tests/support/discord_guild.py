"""The Discord stand-in's guild: roles and who holds them, voice channels and who is in
them, DM channels; what GUILD_CREATE says and how member-role REST calls are answered.

`GuildState` is mixed into `tests.support.discord_standin.DiscordStandIn`, whose lock, gateway
and pending events it uses.
"""

from __future__ import annotations

from typing import Any

from tests.support.discord_messages import APPLICATION_ID, BOT_USER, snowflake

GUILD_ID = 800000000000000001
CHANNEL_IDS = tuple(810000000000000000 + n for n in range(10))
VOICE_CHANNEL_IDS = tuple(830000000000000000 + n for n in range(3))
AFK_CHANNEL_ID = 830000000000000099
BOT_ROLE_ID = 840000000000000001
BOT_ROLE_POSITION = 50
ALL_PERMISSIONS = str((1 << 50) - 1)
MEMBER_PERMISSIONS = str(0x400 | 0x800 | 0x4000 | 0x8000 | 0x10000 | 0x80000000)  # view, send...
MANAGE_ROLES = 1 << 28
ADMINISTRATOR = 1 << 3
BOT_PERMISSIONS = int(MEMBER_PERMISSIONS) | MANAGE_ROLES
INTENT_GUILD_MEMBERS, INTENT_VOICE_STATES = 1 << 1, 1 << 7


class GuildState:
    """Guild-side state and answers of the stand-in (see the module docstring)."""

    def _guild(self) -> dict[str, Any]:
        everyone = {**_role(self.guild_id, "@everyone", 0), "permissions": MEMBER_PERMISSIONS}
        bot_role = {
            **_role(self.bot_role_id, "Abby", BOT_ROLE_POSITION),
            "permissions": str(self.bot_permissions),
            "managed": True,
            "tags": {"bot_id": str(APPLICATION_ID)},
        }
        voice = [(c, f"voice-{n}") for n, c in enumerate(self.voice_channel_ids)] + [
            (self.afk_channel_id, "afk")
        ]
        # Without the members intent Discord still lists the bot and the members in voice.
        members = [{**self.member(APPLICATION_ID), "user": BOT_USER}] + [
            {**self.member(user_id), "user": self.user(user_id)} for user_id in self.voice_states
        ]
        return {
            "id": str(self.guild_id),
            "name": "Stand-in guild",
            "icon": None,
            "owner_id": "1",
            "roles": [everyone, bot_role, *self.roles.values()],
            "channels": [
                {
                    "id": str(c),
                    "type": 0,
                    "name": f"channel-{n}",
                    "position": n,
                    "permission_overwrites": [],
                    "guild_id": str(self.guild_id),
                }
                for n, c in enumerate(self.channel_ids)
            ]
            + [
                {
                    "id": str(c),
                    "type": 2,
                    "name": name,
                    "position": n,
                    "permission_overwrites": [],
                    "guild_id": str(self.guild_id),
                    "bitrate": 64000,
                    "user_limit": 0,
                    "rtc_region": None,
                }
                for n, (c, name) in enumerate(voice)
            ],
            "afk_channel_id": str(self.afk_channel_id),
            "afk_timeout": 300,
            "members": members,
            "member_count": 1000,
            "features": [],
            "emojis": [],
            "stickers": [],
            "threads": [],
            # GUILD_CREATE's voice states are partial: no guild_id, no member.
            "voice_states": [
                {k: v for k, v in state.items() if k not in ("guild_id", "member")}
                for state in self.voice_states.values()
            ],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "unavailable": False,
            "large": False,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "mfa_level": 0,
            "verification_level": 0,
            "explicit_content_filter": 0,
            "nsfw_level": 0,
            "default_message_notifications": 0,
            "system_channel_flags": 0,
            "joined_at": "2026-01-01T00:00:00+00:00",
        }

    def user(self, user_id: int, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": f"member{user_id}",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": bot,
        }

    def member(self, user_id: int, roles: tuple[int, ...] = ()) -> dict[str, Any]:
        """A member object without `user`; its roles are `roles` plus those given by REST."""
        held = set(roles) | self._member_roles.get(user_id, set())
        if user_id == APPLICATION_ID:
            held.add(self.bot_role_id)
        return {
            "roles": [str(r) for r in sorted(held)],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
        }

    def add_role(self, name: str, *, above_bot: bool = False) -> int:
        """A new guild role (GUILD_ROLE_CREATE once connected); below the bot's own role
        unless `above_bot`, where Discord refuses to let the bot hand it out."""
        role_id = int(snowflake())
        with self._cond:
            below = [
                r["position"] for r in self.roles.values() if r["position"] < BOT_ROLE_POSITION
            ]
            position = BOT_ROLE_POSITION + 1 if above_bot else max(below, default=0) + 1
            self.roles[role_id] = _role(role_id, name, position)
        if self._ws is not None:
            self.dispatch(
                "GUILD_ROLE_CREATE", {"guild_id": str(self.guild_id), "role": self.roles[role_id]}
            )
        return role_id

    def member_roles(self, user_id: int) -> set[int]:
        """The roles the bot gave `user_id` (and did not take back) through REST."""
        with self._cond:
            return set(self._member_roles.get(user_id, set()))

    def _voice_state(
        self,
        user_id: int,
        channel_id: int | None,
        *,
        self_mute: bool = False,
        self_deaf: bool = False,
        mute: bool = False,
        deaf: bool = False,
    ) -> dict[str, Any]:
        return {
            "guild_id": str(self.guild_id),
            "channel_id": None if channel_id is None else str(channel_id),
            "user_id": str(user_id),
            "member": {
                **self.member(user_id),
                "user": self.user(user_id),
                "deaf": deaf,
                "mute": mute,
            },
            "session_id": f"voice-{user_id}",
            "deaf": deaf,
            "mute": mute,
            "self_deaf": self_deaf,
            "self_mute": self_mute,
            "self_video": False,
            "self_stream": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }

    def voice(
        self,
        user_id: int,
        channel_id: int | None,
        *,
        self_mute: bool = False,
        self_deaf: bool = False,
        mute: bool = False,
        deaf: bool = False,
    ) -> dict[str, Any]:
        """A member joins, moves in or (None) leaves voice: VOICE_STATE_UPDATE, sent only if
        the bot identified with the voice-states intent, as Discord does."""
        if channel_id is not None and channel_id not in (
            *self.voice_channel_ids,
            self.afk_channel_id,
        ):
            raise LookupError(f"{channel_id} is not a voice channel of the guild")
        state = self._voice_state(
            user_id, channel_id, self_mute=self_mute, self_deaf=self_deaf, mute=mute, deaf=deaf
        )
        with self._cond:
            if channel_id is None:
                self.voice_states.pop(user_id, None)
            else:
                self.voice_states[user_id] = state
        if self._intended(INTENT_VOICE_STATES):
            self.dispatch("VOICE_STATE_UPDATE", state)
        return state

    def _intended(self, intent: int) -> bool:
        return bool(self.identified) and bool(int(self.identified[-1].get("intents", 0)) & intent)

    def _member_request(
        self, method: str, guild_id: str, user_id: str, role_id: str | None
    ) -> tuple[int, Any]:
        if int(guild_id) != self.guild_id:
            return 404, {"message": "Unknown Guild", "code": 10004}
        user = int(user_id)
        if role_id is None:
            if method != "GET":
                return 405, {"message": "405: Method Not Allowed", "code": 0}
            return 200, {**self.member(user), "user": self.user(user)}
        if method not in ("PUT", "DELETE"):
            return 405, {"message": "405: Method Not Allowed", "code": 0}
        role = self.roles.get(int(role_id))
        if role is None:
            return 404, {"message": "Unknown Role", "code": 10011}
        can_manage = self.bot_permissions & (MANAGE_ROLES | ADMINISTRATOR)
        # Even an administrator cannot hand out a role at or above its own highest role.
        if not can_manage or role["position"] >= BOT_ROLE_POSITION:
            return 403, {"message": "Missing Permissions", "code": 50013}
        held = self._member_roles.setdefault(user, set())
        (held.add if method == "PUT" else held.discard)(int(role_id))
        if self._intended(INTENT_GUILD_MEMBERS):
            update = {**self.member(user), "user": self.user(user), "guild_id": str(self.guild_id)}
            self._pending.append(("GUILD_MEMBER_UPDATE", update))
        return 204, None

    def _dm_channel(self, user_id: int) -> dict[str, Any]:
        channel_id = self._dm_channels.setdefault(user_id, snowflake())
        return {
            "id": channel_id,
            "type": 1,
            "last_message_id": None,
            "recipients": [self.user(user_id)],
            "flags": 0,
        }


def _role(role_id: int, name: str, position: int) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "permissions": "0",
        "position": position,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }
