"""A Discord stand-in on 127.0.0.1: REST and gateway, enforcing the rules a bot can break.

An aiohttp server in its own thread (its own event loop), so a test or a benchmark drives it
synchronously while the real `abby bot run` process (or an in-process discord.py client)
talks to it:

- gateway (`/gateway`, JSON text frames, no compression): HELLO (op 10), IDENTIFY (op 2) ->
  READY + GUILD_CREATE (roles, the bot's own role and member, text and voice channels, the
  AFK channel, voice states), heartbeat (op 1) -> ACK (op 11); `send_message`, `interact`,
  `press` and `voice` dispatch MESSAGE_CREATE, INTERACTION_CREATE (types 2 and 3) and
  VOICE_STATE_UPDATE; the close code the bot used is kept.
- REST (`/api/v10`): login, `/gateway/bot`, command sync (kept so interactions carry real
  command ids), interaction callbacks (4/5/6/7), follow-ups and their edits, channel
  messages (post, get, edit, delete), member roles, DM channels. Every call is recorded
  (`requests`); every message the bot creates is kept as members see it now
  (`sent_message`, `edits`, `dm_messages`), files included.

Discord's rules it enforces, answering as Discord does:
- an interaction is answered once (400, 40060) within 3 s of its dispatch (404, 10062); its
  token works for 15 minutes (401, 50027); 6 and 7 only answer a component press;
- the first follow-up (or the edit of the original) after a deferred response takes the
  defer's visibility, whatever flags it asks for: `Reply.ephemeral` is what members saw;
- message limits (400, 50035): 2,000 content, 10 embeds, 6,000 characters per embed, 25
  fields, 256 title / field name / author, 4,096 description, 1,024 field value, 2,048 footer;
  5 action rows of 5 buttons or one select, custom ids of 1-100 characters unique in the
  message, 25 select options; uploads over 10 MiB in all (413, 40005);
- 5 message edits per 5 s per channel: a 429 with `retry_after` and the headers discord.py
  reads (it waits and retries); unknown channels (10003) and messages (10008);
- roles: only below the bot's top role and with MANAGE_ROLES (403, 50013), unknown roles
  404/10011; GUILD_MEMBER_UPDATE and VOICE_STATE_UPDATE only for the intents identified;
- `interact` refuses option values outside the synced command's min/max and `press` refuses
  a missing or disabled component or another member's ephemeral message (Discord's client
  never sends them).

Until a gateway client identifies, an interaction the stand-in did not dispatch (a test
built it in process, as tests/bot/test_allowed_mentions.py does) is adopted at its first
answer, and any channel id is accepted.

Usage (see tests/bot/conftest.py for the fixtures that also start the bot process):

    with DiscordStandIn(roles={"Level 5": 5005}) as discord_:
        env = {"ABBY_DISCORD__API_BASE_URL": discord_.base_url,
               "ABBY_DISCORD__GATEWAY_URL": discord_.gateway_url, ...}
        ... start `abby bot run` ...
        discord_.wait_identified()
        discord_.send_message(user=MEMBER, content="hello")
        reply = discord_.interact("leaderboard").wait_reply()
        turned = discord_.press(reply.message_id, "pages:next", user=MEMBER).wait_reply()
        discord_.sent_message(reply.message_id)["embeds"]
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.discord_guild import (
    AFK_CHANNEL_ID,
    ALL_PERMISSIONS,
    BOT_PERMISSIONS,
    BOT_ROLE_ID,
    CHANNEL_IDS,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    VOICE_CHANNEL_IDS,
    GuildState,
    _role,
)
from tests.support.discord_interactions import (
    INTERACTION_DEADLINE,
    TOKEN_LIFETIME,
    Interaction,
    InteractionAnswers,
    Reply,
)
from tests.support.discord_messages import (
    APPLICATION_ID,
    BOT_USER,
    EPHEMERAL,
    File,
    SentMessage,
    limits,
    parse_body,
    snowflake,
    too_large,
)

__all__ = [
    "AFK_CHANNEL_ID",
    "ALL_PERMISSIONS",
    "APPLICATION_ID",
    "BOT_USER",
    "CHANNEL_IDS",
    "EPHEMERAL",
    "GUILD_ID",
    "INTERACTION_DEADLINE",
    "MEMBER_PERMISSIONS",
    "TOKEN_LIFETIME",
    "VOICE_CHANNEL_IDS",
    "DiscordStandIn",
    "Interaction",
    "Recorded",
    "Reply",
    "snowflake",
]

# Discord does not publish the edit limit; 5 per 5 s per channel is what bots observe.
EDITS_PER_WINDOW, EDIT_WINDOW = 5, 5.0


@dataclass
class Recorded:
    method: str
    path: str
    payload: dict[str, Any] | list[Any] | None
    status: int = 200
    at: float = 0.0


class DiscordStandIn(GuildState, InteractionAnswers):
    def __init__(
        self,
        *,
        guild_id: int = GUILD_ID,
        channel_ids: tuple[int, ...] = CHANNEL_IDS,
        roles: dict[str, int] | None = None,
        voice: dict[int, int] | None = None,
        bot_permissions: int = BOT_PERMISSIONS,
    ) -> None:
        """`roles`: name -> id of extra guild roles (below the bot's own role); `voice`:
        member -> voice channel at connect time (in GUILD_CREATE's voice_states);
        `bot_permissions`: the bot's role permissions (without MANAGE_ROLES role edits 403)."""
        self.guild_id = guild_id
        self.channel_ids = channel_ids
        self.voice_channel_ids = VOICE_CHANNEL_IDS
        self.afk_channel_id = AFK_CHANNEL_ID
        self.bot_role_id = BOT_ROLE_ID
        self.bot_permissions = bot_permissions
        self.roles: dict[int, dict[str, Any]] = {}
        for position, (name, role_id) in enumerate((roles or {}).items(), start=1):
            self.roles[role_id] = _role(role_id, name, position)
        self._member_roles: dict[int, set[int]] = {}
        self.voice_states: dict[int, dict[str, Any]] = {}
        for user_id, channel_id in (voice or {}).items():
            self.voice_states[user_id] = self._voice_state(user_id, channel_id)
        self._messages: dict[str, SentMessage] = {}
        self._dm_channels: dict[int, str] = {}  # member -> DM channel id
        self.dms_closed: set[int] = set()  # members who do not accept DMs (403, 50007)
        self._edit_times: dict[str, deque[float]] = {}  # channel -> recent edit times
        self.rate_limited: list[tuple[str, float]] = []  # (path, retry_after) of each 429
        self._pending: list[tuple[str, dict[str, Any]]] = []  # events a REST call causes
        self.requests: list[Recorded] = []
        self.interactions: dict[str, Interaction] = {}
        self.commands: dict[str, dict[str, Any]] = {}  # name -> synced command (with id)
        self.identified: list[dict[str, Any]] = []
        self.close_codes: list[int | None] = []
        self.heartbeats = 0
        self._cond = threading.Condition()
        self._seq = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> DiscordStandIn:
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the Discord stand-in did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self, started: threading.Event) -> None:
        self._loop = loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{message}/{attachment}/{name}", self._attachment)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set()
        loop.run_forever()
        loop.close()

    async def _stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # --- waiting -----------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s")
                self._cond.wait(min(left, 0.05))

    def wait_identified(self, timeout: float = 60.0) -> dict[str, Any]:
        return self.wait_for(
            lambda: self.identified[-1] if self.identified else None, timeout, "IDENTIFY"
        )

    def wait_closed(self, timeout: float = 10.0) -> int | None:
        self.wait_for(lambda: self.close_codes, timeout, "gateway close")
        return self.close_codes[-1]

    def _changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # --- gateway -----------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        self._ws = ws
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        close_code = None
        while True:
            message = await ws.receive()
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                close_code = message.data if message.type == WSMsgType.CLOSE else ws.close_code
                break
            if message.type != WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame["op"] == 1:
                self.heartbeats += 1
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif frame["op"] == 2:
                await self._dispatch("READY", self._ready(frame["d"]))
                await self._dispatch("GUILD_CREATE", self._guild())
                with self._cond:
                    self.identified.append(frame["d"])
                    self._cond.notify_all()
        with self._cond:
            self.close_codes.append(close_code)
            self._cond.notify_all()
        return ws

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send one gateway event to the bot (from any thread); returns once it is written."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._dispatch(event, data), self._loop).result(10)

    def dispatch_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Send events back to back, as fast as the socket takes them."""

        async def send_all() -> None:
            for event, data in events:
                await self._dispatch(event, data)

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(send_all(), self._loop).result(300)

    def _ready(self, identify: dict[str, Any]) -> dict[str, Any]:
        ready = {
            "v": 10,
            "user": BOT_USER,
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": "standin-session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APPLICATION_ID), "flags": 1 << 19},
            "private_channels": [],
            "relationships": [],
        }
        if "shard" in identify:
            ready["shard"] = identify["shard"]
        return ready

    # --- events a member causes --------------------------------------------------------

    def message_event(
        self,
        *,
        user: int,
        content: str = "hello",
        channel: int | None = None,
        roles: tuple[int, ...] = (),
        bot: bool = False,
        at: str | None = None,
    ) -> dict[str, Any]:
        stamp = at or time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        return {
            "id": snowflake(),
            "channel_id": str(channel or self.channel_ids[0]),
            "guild_id": str(self.guild_id),
            "author": self.user(user, bot=bot),
            "member": self.member(user, roles),
            "content": content,
            "timestamp": stamp,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        """MESSAGE_CREATE from a member (keywords of `message_event`)."""
        event = self.message_event(**kwargs)
        self.dispatch("MESSAGE_CREATE", event)
        return event

    def interact(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: int = 4242,
        roles: tuple[int, ...] = (),
        permissions: str = MEMBER_PERMISSIONS,
        channel: int | None = None,
        members: dict[int, dict[str, Any]] | None = None,
        interaction_id: str | None = None,
        subcommand: str | None = None,
        age: float = 0.0,
    ) -> Interaction:
        """INTERACTION_CREATE for slash command `name`; a USER option takes a member id
        (resolved for the bot as Discord does). `interaction_id` redelivers a known one;
        `age` backdates it (over 3 s: Discord refuses any answer with 10062)."""
        command = self.commands.get(name)
        if command is None:
            raise KeyError(f"/{name} was not synced; synced: {sorted(self.commands)}")
        declared = command.get("options", [])
        if subcommand is not None:
            group = next(o for o in declared if o["name"] == subcommand)
            declared = group.get("options", [])
        wire_options, resolved = self._options(name, declared, options or {}, members or {})
        if subcommand is not None:
            wire_options = [{"name": subcommand, "type": 1, "options": wire_options}]
        interaction_id = interaction_id or snowflake()
        token = f"token-{interaction_id}"
        channel_id = str(channel or self.channel_ids[0])
        record = self.interactions.get(interaction_id)
        if record is None:
            # `age`: as if Discord had created it that many seconds ago (past 3 s: expired).
            sent_at = time.monotonic() - age
            record = Interaction(
                interaction_id, token, name, user, sent_at, self, channel_id=channel_id
            )
            with self._cond:
                self.interactions[interaction_id] = record
        data = self._interaction_payload(record, 2, roles, permissions)
        data["data"] = {
            "id": command["id"],
            "name": name,
            "type": 1,
            "options": wire_options,
            "resolved": resolved,
            "guild_id": command.get("guild_id"),
        }
        if data["data"]["guild_id"] is None:
            del data["data"]["guild_id"]
        self.dispatch("INTERACTION_CREATE", data)
        return record

    def press(
        self,
        message_id: str | int,
        custom_id: str,
        *,
        user: int = 4242,
        roles: tuple[int, ...] = (),
        permissions: str = MEMBER_PERMISSIONS,
        values: list[str] | None = None,
        age: float = 0.0,
    ) -> Interaction:
        """A member presses a button (or picks `values` in a select) on a message the bot
        sent: INTERACTION_CREATE of type 3 carrying that message. Raises if the message is
        gone, has no such enabled component, or is ephemeral and shown to someone else
        (Discord's client offers nothing else to press). The Interaction records the answer:
        7 edits that message, 6 defers it (then "@original" is that message)."""
        with self._cond:
            message = self._messages.get(str(message_id))
            if message is None or message.deleted:
                raise LookupError(f"the bot has no message {message_id} to press on")
            component = message.component(custom_id)
            if component is None or component.get("type") not in (2, 3, 5, 6, 7, 8):
                raise LookupError(f"message {message_id} has no component {custom_id!r}")
            if component.get("disabled"):
                raise PermissionError(f"{custom_id!r} on message {message_id} is disabled")
            if message.visible_to is not None and message.visible_to != user:
                raise PermissionError(
                    f"message {message_id} is ephemeral: only {message.visible_to} sees it"
                )
            interaction_id = snowflake()
            record = Interaction(
                interaction_id,
                f"token-{interaction_id}",
                f"press:{custom_id}",
                user,
                time.monotonic() - age,
                self,
                channel_id=message.channel_id,
                target=message.id,
            )
            self.interactions[interaction_id] = record
            wire = message.wire(self.root_url)
        data = self._interaction_payload(record, 3, roles, permissions)
        data["message"] = wire
        data["data"] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] != 2:
            data["data"]["values"] = list(values or [])
        self.dispatch("INTERACTION_CREATE", data)
        return record

    def _interaction_payload(
        self, record: Interaction, kind: int, roles: tuple[int, ...], permissions: str
    ) -> dict[str, Any]:
        return {
            "id": record.id,
            "application_id": str(APPLICATION_ID),
            "type": kind,
            "token": record.token,
            "version": 1,
            "guild_id": str(self.guild_id),
            "channel_id": record.channel_id,
            "channel": {
                "id": record.channel_id,
                "type": 0,
                "guild_id": str(self.guild_id),
                "name": "channel",
                "position": 0,
                "permission_overwrites": [],
            },
            "member": {
                **self.member(record.user_id, roles),
                "user": self.user(record.user_id),
                "permissions": permissions,
            },
            "app_permissions": ALL_PERMISSIONS,
            "locale": "en-US",
            "guild_locale": "en-US",
            "attachment_size_limit": 10 * 1024 * 1024,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
        }

    def _options(
        self,
        name: str,
        declared: list[dict[str, Any]],
        given: dict[str, Any],
        members: dict[int, dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        wire, resolved = [], {"users": {}, "members": {}}
        for key, value in given.items():
            option = next((o for o in declared if o["name"] == key), None)
            if option is None:
                raise KeyError(f"/{name} has no option {key!r}")
            kind = option["type"]
            if kind in (4, 10):  # integer, number: Discord's client enforces the range
                low, high = option.get("min_value"), option.get("max_value")
                if (low is not None and value < low) or (high is not None and value > high):
                    raise ValueError(f"{key}={value} is outside [{low}, {high}]")
            if kind == 3:
                low, high = option.get("min_length"), option.get("max_length")
                if (low is not None and len(value) < low) or (
                    high is not None and len(value) > high
                ):
                    raise ValueError(f"{key} length {len(value)} is outside [{low}, {high}]")
            if kind == 6:
                user_id = int(value)
                extra = members.get(user_id, {})
                resolved["users"][str(user_id)] = self.user(user_id, bot=extra.get("bot", False))
                resolved["members"][str(user_id)] = {
                    **self.member(user_id, tuple(extra.get("roles", ()))),
                    "permissions": MEMBER_PERMISSIONS,
                }
                value = str(user_id)
            wire.append({"name": key, "type": kind, "value": value})
        return wire, {k: v for k, v in resolved.items() if v}

    # --- REST --------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body = await request.read()
        payload, files = parse_body(request.headers.get("Content-Type", ""), body)
        with self._cond:
            status, reply, headers = self._answer(request.method, path, payload, files)
            self.requests.append(Recorded(request.method, path, payload, status, time.monotonic()))
            events, self._pending = self._pending, []
            self._cond.notify_all()
        for event, data in events:  # what Discord dispatches after the change (member roles)
            await self._dispatch(event, data)
        if reply is None:
            return web.Response(status=status, headers=headers)
        # discord.py parses a body as JSON only for exactly this content type (no charset).
        return web.Response(
            body=json.dumps(reply).encode(),
            status=status,
            headers={"Content-Type": "application/json", **headers},
        )

    async def _attachment(self, request: web.Request) -> web.Response:
        message = self._messages.get(request.match_info["message"])
        for item in message.attachments if message is not None and not message.deleted else []:
            if item["id"] == request.match_info["attachment"]:
                return web.Response(body=item["data"])
        return web.Response(status=404)

    def _answer(
        self,
        method: str,
        path: str,
        payload: Any,
        files: list[File],
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, headers); runs under the lock, as one step of Discord's state."""
        if files and (error := too_large(files)):
            return 413, error, {}
        if match := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path):
            return (*self._callback(match[1], match[2], payload, files), {})
        if match := re.fullmatch(r"/webhooks/\d+/([^/]+)(?:/messages/(@original|\d+))?", path):
            return self._webhook(method, match[1], match[2], payload, files)
        if match := re.fullmatch(r"/channels/(\d+)/messages(?:/(\d+))?", path):
            return self._channel_message(method, match[1], match[2], payload, files)
        if match := re.fullmatch(r"/guilds/(\d+)/members/(\d+)(?:/roles/(\d+))?", path):
            return (*self._member_request(method, *match.groups()), {})
        if method == "POST" and path == "/users/@me/channels":
            return 200, self._dm_channel(int((payload or {})["recipient_id"])), {}
        return (*self._answer_static(method, path, payload), {})

    def _answer_static(self, method: str, path: str, payload: Any) -> tuple[int, Any]:
        if path in ("/gateway", "/gateway/bot"):
            return 200, {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        if path == "/users/@me":
            return 200, BOT_USER
        if path in ("/oauth2/applications/@me", "/applications/@me"):
            return 200, {
                "id": str(APPLICATION_ID),
                "name": "Abby",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": BOT_USER,
                "verify_key": "0" * 64,
                "flags": 1 << 19,
            }
        if method == "PUT" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path):
            guild = re.search(r"/guilds/(\d+)/", path)
            synced = []
            for command in payload or []:
                known = self.commands.get(command["name"], {})
                entry = {
                    **command,
                    "id": known.get("id") or snowflake(),
                    "application_id": str(APPLICATION_ID),
                    "version": "1",
                    "guild_id": guild[1] if guild else None,
                }
                synced.append(entry)
            self.commands = {c["name"]: c for c in synced}
            return 200, synced
        if method == "GET" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path):
            return 200, list(self.commands.values())
        if method == "GET" and path == f"/guilds/{self.guild_id}/roles":
            return 200, self._guild()["roles"]
        return 404, {"message": "404: Not Found", "code": 0}

    # --- messages ----------------------------------------------------------------------

    def _create(
        self,
        channel_id: str,
        payload: dict[str, Any],
        files: list[File],
        *,
        visible_to: int | None = None,
        token: str | None = None,
        flags: int = 0,
    ) -> SentMessage:
        message = SentMessage(
            snowflake(), channel_id, flags=flags, visible_to=visible_to, token=token
        )
        message.apply(payload, files)
        self._messages[message.id] = message
        return message

    def _edit(
        self, message: SentMessage, payload: dict[str, Any], files: list[File], path: str
    ) -> tuple[int, Any, dict[str, str]]:
        """PATCH of a message: Discord's per-channel edit limit, then the change."""
        now = time.monotonic()
        recent = self._edit_times.setdefault(message.channel_id, deque())
        while recent and now - recent[0] >= EDIT_WINDOW:
            recent.popleft()
        reset_after = EDIT_WINDOW - (now - recent[0]) if recent else EDIT_WINDOW
        headers = {
            "X-RateLimit-Limit": str(EDITS_PER_WINDOW),
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Bucket": "standin-message-edit",
        }
        if len(recent) >= EDITS_PER_WINDOW:
            self.rate_limited.append((path, reset_after))
            # discord.py retries a 429 only when it came through Discord's proxy (Via).
            return (
                429,
                {
                    "message": "You are being rate limited.",
                    "retry_after": round(reset_after, 3),
                    "global": False,
                },
                {
                    **headers,
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Scope": "user",
                    "Retry-After": str(math.ceil(reset_after)),
                    "Via": "1.1 google",
                },
            )
        if error := limits(payload):
            return 400, error, {}
        recent.append(now)
        message.apply(payload, files)
        message.edits.append((now, message.content))
        headers["X-RateLimit-Remaining"] = str(EDITS_PER_WINDOW - len(recent))
        return 200, message.wire(self.root_url), headers

    def _channel_message(
        self,
        method: str,
        channel_id: str,
        message_id: str | None,
        payload: Any,
        files: list[File],
    ) -> tuple[int, Any, dict[str, str]]:
        dm_users = {c: u for u, c in self._dm_channels.items()}
        known = int(channel_id) in self.channel_ids or channel_id in dm_users
        if not known and not self._in_process:
            return 404, {"message": "Unknown Channel", "code": 10003}, {}
        if message_id is None:
            if method != "POST":
                return 200, [], {}
            if channel_id in dm_users and dm_users[channel_id] in self.dms_closed:
                return 403, {"message": "Cannot send messages to this user", "code": 50007}, {}
            if error := limits(payload or {}):
                return 400, error, {}
            return 200, self._create(channel_id, payload or {}, files).wire(self.root_url), {}
        message = self._messages.get(message_id)
        if message is None or message.deleted or message.channel_id != channel_id:
            return 404, {"message": "Unknown Message", "code": 10008}, {}
        if method == "GET":
            return 200, message.wire(self.root_url), {}
        if method == "DELETE":
            message.deleted = True
            return 204, None, {}
        if method == "PATCH":
            return self._edit(
                message, payload or {}, files, f"/channels/{channel_id}/messages/{message_id}"
            )
        return 405, {"message": "405: Method Not Allowed", "code": 0}, {}

    # --- what was recorded -------------------------------------------------------------

    def channel_messages(self, channel: int | None = None) -> list[Recorded]:
        return [
            r
            for r in list(self.requests)
            if r.method == "POST"
            and r.status == 200
            and re.fullmatch(r"/channels/\d+/messages", r.path)
            and (channel is None or r.path == f"/channels/{channel}/messages")
        ]

    def messages(self) -> list[Recorded]:
        """Every request that carries message content: responses, follow-ups, edits, posts."""
        return [
            r
            for r in list(self.requests)
            if r.method in ("POST", "PATCH")
            and isinstance(r.payload, dict)
            and (
                "/callback" in r.path
                or r.path.startswith("/webhooks/")
                or r.path.endswith("/messages")
            )
        ]

    def sent_message(self, message_id: str | int) -> dict[str, Any]:
        """What a member sees now of a message the bot created (content, embeds,
        components, attachments with their bytes, `deleted`)."""
        with self._cond:
            message = self._messages.get(str(message_id))
            if message is None:
                raise LookupError(f"the bot created no message {message_id}")
            return message.state()

    def edits(self, message_id: str | int) -> list[tuple[float, str]]:
        """(monotonic time, content after it) of every accepted edit of a message."""
        with self._cond:
            message = self._messages.get(str(message_id))
            return list(message.edits) if message is not None else []

    def messages_in(self, channel: int | str) -> list[dict[str, Any]]:
        """What members see now of every message the bot created in a channel (posts,
        interaction responses, follow-ups), oldest first; deleted ones say so."""
        with self._cond:
            return [m.state() for m in self._messages.values() if m.channel_id == str(channel)]

    def dm_messages(self, user_id: int) -> list[dict[str, Any]]:
        """The messages the bot sent to a member's DM channel, oldest first."""
        with self._cond:
            channel = self._dm_channels.get(user_id)
            return [m.state() for m in self._messages.values() if m.channel_id == channel]

    def command_syncs(self) -> list[Recorded]:
        return [
            r for r in list(self.requests) if r.method == "PUT" and r.path.endswith("/commands")
        ]
