"""A Discord stand-in on 127.0.0.1: REST and gateway, enforcing the rules a bot can break.

An aiohttp server in its own thread (its own event loop), so a test or a benchmark drives it
synchronously while the real `abby bot run` process talks to it:

- gateway (`/gateway`, JSON text frames, no compression): HELLO (op 10), IDENTIFY (op 2) →
  READY + GUILD_CREATE, heartbeat (op 1) → ACK (op 11); `send_message` and `interact`
  dispatch MESSAGE_CREATE and INTERACTION_CREATE; the close code the bot used is kept.
- REST (`/api/v10`): login, `/gateway/bot`, command sync (bulk overwrite, kept so
  interactions carry real command ids), interaction callbacks (types 4/5/6/7), follow-ups,
  edits of the original, channel messages. Every call is recorded (`requests`).

Discord's rules it enforces, answering as Discord does:
- an interaction is answered once (second callback: 400, code 40060) and within 3 s of its
  dispatch (later: 404, code 10062 Unknown interaction);
- the first follow-up (or the edit of the original) after a deferred response takes the
  defer's visibility, whatever flags it asks for: `Reply.ephemeral` is what members saw;
- message limits: 2,000 content, 10 embeds, 6,000 characters per embed in total, 25 fields,
  256 title / field name / author, 4,096 description, 1,024 field value, 2,048 footer
  (400, code 50035 Invalid Form Body);
- `interact` refuses option values outside the synced command's min/max (Discord's client
  never sends them).

Usage (see tests/bot/conftest.py for the fixtures that also start the bot process):

    with DiscordStandIn() as discord_:
        env = {"ABBY_DISCORD__API_BASE_URL": discord_.base_url,
               "ABBY_DISCORD__GATEWAY_URL": discord_.gateway_url, ...}
        ... start `abby bot run` ...
        discord_.wait_identified()
        discord_.send_message(user=MEMBER, content="hello")
        reply = discord_.interact("rank").wait_reply()
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APPLICATION_ID = 900000000000000001
GUILD_ID = 800000000000000001
CHANNEL_IDS = tuple(810000000000000000 + n for n in range(10))
BOT_USER = {
    "id": str(APPLICATION_ID),
    "username": "abby",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}
EPHEMERAL = 1 << 6
INTERACTION_DEADLINE = 3.0
ALL_PERMISSIONS = str((1 << 50) - 1)
MEMBER_PERMISSIONS = str(0x400 | 0x800 | 0x4000 | 0x8000 | 0x10000 | 0x80000000)  # view, send...
_ids = itertools.count(910000000000000000)


def snowflake() -> str:
    return str(next(_ids))


@dataclass
class Recorded:
    method: str
    path: str
    payload: dict[str, Any] | list[Any] | None
    status: int = 200
    at: float = 0.0


@dataclass
class Reply:
    """One message a member saw in answer to an interaction (or a refused attempt)."""

    kind: str  # "callback", "followup", "edit"
    type: int | None  # the callback type (4, 5, 6, 7) or None
    content: str
    embeds: list[dict[str, Any]]
    ephemeral: bool  # the visibility Discord applied, not the flags asked for
    payload: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class Interaction:
    id: str
    token: str
    name: str
    user_id: int
    sent_at: float
    standin: DiscordStandIn
    replies: list[Reply] = field(default_factory=list)
    errors: list[tuple[int, int]] = field(default_factory=list)  # (status, Discord code)
    deferred_ephemeral: bool | None = None
    followups: int = 0

    @property
    def acknowledged(self) -> bool:
        return any(r.kind == "callback" for r in self.replies)

    def wait_reply(self, timeout: float = 10.0) -> Reply:
        """The first visible message: a type-4/7 callback, or the follow-up/edit after a defer."""

        def visible() -> Reply | None:
            return next(
                (r for r in self.replies if r.type not in (5, 6) and r.kind != "delete"), None
            )

        return self.standin.wait_for(visible, timeout, f"a reply to /{self.name}")

    def wait_settled(self, timeout: float = 10.0) -> Reply | None:
        """The first visible reply, or None once Discord refused an answer (10062, 40060)."""

        def settled() -> tuple[Reply | None] | None:
            reply = next(
                (r for r in self.replies if r.type not in (5, 6) and r.kind != "delete"), None
            )
            if reply is not None or self.errors:
                return (reply,)
            return None

        return self.standin.wait_for(settled, timeout, f"an outcome of /{self.name}")[0]

    def wait_acknowledged(self, timeout: float = 10.0) -> Reply:
        return self.standin.wait_for(
            lambda: next((r for r in self.replies if r.kind == "callback"), None),
            timeout,
            f"an answer to /{self.name}",
        )


class DiscordStandIn:
    def __init__(self, *, guild_id: int = GUILD_ID, channel_ids: tuple[int, ...] = CHANNEL_IDS):
        self.guild_id = guild_id
        self.channel_ids = channel_ids
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
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # --- waiting -----------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ANN401
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

    def _guild(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": "Stand-in guild",
            "icon": None,
            "owner_id": "1",
            "roles": [
                {
                    "id": str(self.guild_id),
                    "name": "@everyone",
                    "permissions": MEMBER_PERMISSIONS,
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                },
            ],
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
            ],
            "members": [],
            "member_count": 1000,
            "features": [],
            "emojis": [],
            "stickers": [],
            "threads": [],
            "voice_states": [],
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

    # --- events a member causes --------------------------------------------------------

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
        return {
            "roles": [str(r) for r in roles],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
        }

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

    def send_message(self, **kwargs: Any) -> dict[str, Any]:  # noqa: ANN401
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
        record = self.interactions.get(interaction_id)
        if record is None:
            # `age`: as if Discord had created it that many seconds ago (past 3 s: expired).
            sent_at = time.monotonic() - age
            record = Interaction(interaction_id, token, name, user, sent_at, self)
            with self._cond:
                self.interactions[interaction_id] = record
        channel_id = str(channel or self.channel_ids[0])
        data = {
            "id": interaction_id,
            "application_id": str(APPLICATION_ID),
            "type": 2,
            "token": token,
            "version": 1,
            "guild_id": str(self.guild_id),
            "channel_id": channel_id,
            "channel": {
                "id": channel_id,
                "type": 0,
                "guild_id": str(self.guild_id),
                "name": "channel",
                "position": 0,
                "permission_overwrites": [],
            },
            "member": {
                **self.member(user, roles),
                "user": self.user(user),
                "permissions": permissions,
            },
            "app_permissions": ALL_PERMISSIONS,
            "locale": "en-US",
            "guild_locale": "en-US",
            "attachment_size_limit": 10 * 1024 * 1024,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "data": {
                "id": command["id"],
                "name": name,
                "type": 1,
                "options": wire_options,
                "resolved": resolved,
                "guild_id": command.get("guild_id"),
            },
        }
        if data["data"]["guild_id"] is None:
            del data["data"]["guild_id"]
        self.dispatch("INTERACTION_CREATE", data)
        return record

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
        payload = _payload(request.headers.get("Content-Type", ""), body)
        status, reply = self._answer(request.method, path, payload, request.query)
        with self._cond:
            self.requests.append(Recorded(request.method, path, payload, status, time.monotonic()))
            self._cond.notify_all()
        if reply is None:
            return web.Response(status=status)
        # discord.py parses a body as JSON only for exactly this content type (no charset).
        return web.Response(
            body=json.dumps(reply).encode(),
            status=status,
            headers={"Content-Type": "application/json"},
        )

    def _answer(self, method: str, path: str, payload: Any, query: Any) -> tuple[int, Any]:  # noqa: ANN401, C901
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
            with self._cond:
                self.commands = {c["name"]: c for c in synced}
            return 200, synced
        if method == "GET" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path):
            return 200, list(self.commands.values())
        if match := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path):
            return self._callback(match[1], payload)
        if match := re.fullmatch(r"/webhooks/\d+/([^/]+)(/messages/@original)?", path):
            return self._webhook(method, match[1], bool(match[2]), payload)
        if match := re.fullmatch(r"/channels/(\d+)/messages", path):
            if method == "POST":
                if error := _limits(payload or {}):
                    return 400, error
                return 200, _message(payload, match[1])
            return 200, []
        return 404, {"message": "404: Not Found", "code": 0}

    def _by_token(self, token: str) -> Interaction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    def _reply(self, record: Interaction, reply: Reply) -> None:
        with self._cond:
            record.replies.append(reply)
            self._cond.notify_all()

    def _refuse(
        self, record: Interaction | None, status: int, code: int, message: str
    ) -> tuple[int, Any]:
        if record is not None:
            with self._cond:
                record.errors.append((status, code))
                self._cond.notify_all()
        return status, {"message": message, "code": code}

    def _callback(self, interaction_id: str, payload: dict[str, Any]) -> tuple[int, Any]:
        record = self.interactions.get(interaction_id)
        if record is None or time.monotonic() - record.sent_at > INTERACTION_DEADLINE:
            return self._refuse(record, 404, 10062, "Unknown interaction")
        if record.acknowledged:
            return self._refuse(record, 400, 40060, "Interaction has already been acknowledged.")
        kind = payload["type"]
        data = payload.get("data") or {}
        if kind in (4, 7) and (error := _limits(data)):
            return self._refuse(record, 400, 50035, json.dumps(error))
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        if kind == 5:
            record.deferred_ephemeral = ephemeral
        self._reply(
            record,
            Reply(
                "callback",
                kind,
                data.get("content") or "",
                data.get("embeds") or [],
                ephemeral,
                payload,
                time.monotonic(),
            ),
        )
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 7):
            resource["message"] = _message(data)
        return 200, {"interaction": {"id": interaction_id, "type": 2}, "resource": resource}

    def _webhook(self, method: str, token: str, original: bool, payload: Any) -> tuple[int, Any]:  # noqa: ANN401
        record = self._by_token(token)
        if record is None or not record.acknowledged:
            return self._refuse(record, 404, 10015, "Unknown Webhook")
        payload = payload or {}
        if error := _limits(payload):
            return self._refuse(record, 400, 50035, json.dumps(error))
        asked = bool(int(payload.get("flags") or 0) & EPHEMERAL)
        if original:
            if method == "DELETE":
                # The deferred message is gone: later follow-ups are new messages with
                # their own flags (how a bot turns a public defer into a private error).
                record.deferred_ephemeral = None
                self._reply(record, Reply("delete", None, "", [], False, {}, time.monotonic()))
                return 204, None
            if method != "PATCH":
                return 200, _message({})
            # Editing the original keeps the visibility of the response it edits.
            ephemeral = (
                bool(record.deferred_ephemeral)
                if record.deferred_ephemeral is not None
                else record.replies[0].ephemeral
            )
            self._reply(
                record,
                Reply(
                    "edit",
                    None,
                    payload.get("content") or "",
                    payload.get("embeds") or [],
                    ephemeral,
                    payload,
                    time.monotonic(),
                ),
            )
            return 200, _message(payload)
        # The first follow-up after a defer *is* the deferred message: it keeps the defer's
        # visibility (a public defer makes an "ephemeral" follow-up public).
        if record.deferred_ephemeral is not None and record.followups == 0:
            ephemeral = record.deferred_ephemeral
        else:
            ephemeral = asked
        record.followups += 1
        self._reply(
            record,
            Reply(
                "followup",
                None,
                payload.get("content") or "",
                payload.get("embeds") or [],
                ephemeral,
                payload,
                time.monotonic(),
            ),
        )
        return 200, _message(payload)

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

    def command_syncs(self) -> list[Recorded]:
        return [
            r for r in list(self.requests) if r.method == "PUT" and r.path.endswith("/commands")
        ]


def _payload(content_type: str, body: bytes) -> dict[str, Any] | list[Any] | None:
    if not body:
        return None
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in parsed.iter_parts():
            if part.get_param("name", header="content-disposition") == "payload_json":
                return json.loads(part.get_content())
        return {}
    return json.loads(body)


def _limits(message: dict[str, Any]) -> dict[str, Any] | None:
    """Discord's 400 Invalid Form Body for a message over a limit, else None."""
    problems: dict[str, str] = {}
    if len(message.get("content") or "") > 2000:
        problems["content"] = "Must be 2000 or fewer in length."
    embeds = message.get("embeds") or []
    if len(embeds) > 10:
        problems["embeds"] = "Must be 10 or fewer in length."
    for n, card in enumerate(embeds):
        fields = card.get("fields") or []
        sizes = {
            "title": (len(card.get("title") or ""), 256),
            "description": (len(card.get("description") or ""), 4096),
            "footer.text": (len((card.get("footer") or {}).get("text") or ""), 2048),
            "author.name": (len((card.get("author") or {}).get("name") or ""), 256),
        }
        for key, (size, limit) in sizes.items():
            if size > limit:
                problems[f"embeds.{n}.{key}"] = f"Must be {limit} or fewer in length."
        if len(fields) > 25:
            problems[f"embeds.{n}.fields"] = "Must be 25 or fewer in length."
        for m, entry in enumerate(fields):
            if len(entry.get("name") or "") > 256:
                problems[f"embeds.{n}.fields.{m}.name"] = "Must be 256 or fewer in length."
            if len(entry.get("value") or "") > 1024:
                problems[f"embeds.{n}.fields.{m}.value"] = "Must be 1024 or fewer in length."
        total = sum(size for size, _ in sizes.values()) + sum(
            len(f.get("name") or "") + len(f.get("value") or "") for f in fields
        )
        if total > 6000:
            problems[f"embeds.{n}"] = f"Embed size exceeds maximum size of 6000 ({total})"
    if not problems:
        return None
    return {"message": "Invalid Form Body", "code": 50035, "errors": problems}


def _message(payload: dict[str, Any] | None, channel_id: str = "700") -> dict[str, Any]:
    payload = payload or {}
    return {
        "id": snowflake(),
        "channel_id": channel_id,
        "type": 0,
        "content": payload.get("content") or "",
        "author": BOT_USER,
        "embeds": payload.get("embeds") or [],
        "attachments": [],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "timestamp": "2026-03-01T12:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "pinned": False,
        "flags": payload.get("flags", 0),
        "components": [],
    }
