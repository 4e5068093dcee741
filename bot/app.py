"""The bot: built around an open core context, cogs loaded in setup_hook.

Blocking core calls (database, disk, Chroma) never run on the event loop: slash commands
await them in a worker thread; message XP goes to the core's coalescing grant writer. One
error path (`bot.failures`) answers slash commands, buttons and listeners. SIGTERM and
SIGINT stop taking events, let running handlers finish (bounded), close the gateway with a
normal close (1000) and the stores, and return: exit 0.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.failures import answer_failure, record_unexpected
from bot.limits import require_valid_tree
from bot.render import NO_PINGS

if TYPE_CHECKING:
    from discord.gateway import DiscordWebSocket

    from core.context import AppContext
    from core.economy.grant_writer import GrantWriter

    # What the type checker sees: the shared base is a Bot, so its methods and every cog
    # typed against it see discord.py's API. At run time each concrete class brings its own
    # Bot (plain or sharded) after it in the MRO.
    _Bot = commands.Bot
else:
    _Bot = object

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# Extensions loaded at start-up; each domain adds its cog here.
COGS: tuple[str, ...] = (
    "bot.cogs.users",
    "bot.cogs.privacy",
    "bot.cogs.chat",
    "bot.cogs.economy",
    "bot.cogs.levels",
    "bot.cogs.voice",
    "bot.cogs.bank",
    "bot.cogs.images",
    "bot.cogs.rag",
    "bot.cogs.admin_xp",
    "bot.cogs.levels_admin",
    "bot.cogs.admin_bank",
    "bot.cogs.kb",
    "bot.cogs.status",
)
# Events dropped once shutdown began: nothing new starts, what runs may finish.
_INCOMING = ("message", "interaction", "raw_message")
_LAG_TICK = 0.02
_INBOX_LIMIT = 20_000
_READ_SLICE = 0.002
_INBOX_SLICE = 10
_INBOX_PAUSE = 0.002
# Names of the tasks discord.py runs handlers in (listeners, app commands, views).
_HANDLER_TASKS = ("discord.py: on_", "CommandTree-invoker", "discord-ui-view-dispatch")


class AbbyBotBase(_Bot):
    """What both bot classes share; `AbbyBot` for one process, `ShardedAbbyBot` for shards.

    Cogs are typed against it: `bot.context` (the open core), `bot.run_core` and `bot.write`.
    """

    context: AppContext

    def _setup(self, context: AppContext) -> None:
        self.context = context
        self.started = time.monotonic()
        self.draining = False
        self.rest_only = False
        self._writer: GrantWriter | None = None
        self._lag_ms: collections.deque[float] = collections.deque(maxlen=100_000)
        # MESSAGE_CREATE frames wait in an inbox instead of being parsed where they arrive:
        # the gateway reader runs without yielding while its socket has data, so a burst of
        # messages parsed there would hold every slash command read after it.
        parsers = self._connection.parsers
        self._parse_message = parsers["MESSAGE_CREATE"]
        parsers["MESSAGE_CREATE"] = self._queue_message
        self._inbox: collections.deque[Any] = collections.deque()
        self._inbox_task: asyncio.Task[None] | None = None
        self.tree.error(self.on_app_command_error)

    async def setup_hook(self) -> None:
        if self.rest_only:  # `abby bot sync`: log in over REST, no stores, no gateway
            return
        await self.load_cogs()
        await self.sync_commands()
        self.heartbeat.change_interval(seconds=self.context.settings.telemetry.heartbeat_seconds)
        self.heartbeat.start()
        self._lag_task = asyncio.create_task(self._watch_loop_lag(), name="abby-loop-lag")

    async def _watch_loop_lag(self) -> None:
        """Sample how late the event loop wakes a 20 ms sleep: the lag every event sees."""
        while True:
            began = time.perf_counter()
            await asyncio.sleep(_LAG_TICK)
            self._lag_ms.append((time.perf_counter() - began - _LAG_TICK) * 1000)

    async def load_cogs(self) -> None:
        # Services open their stores (migrations, the bank's recovery) on first use: do that
        # now in a worker thread, not on the event loop at a member's first command.
        await asyncio.to_thread(self.context.init_schema)
        for extension in COGS:
            await self.load_extension(extension)

    async def sync_commands(self) -> None:
        """Sync the command tree; raise ConfigError first if Discord would refuse it."""
        tree = self.tree
        guilds = self.context.settings.discord.sync_guilds
        if guilds:
            for guild_id in guilds:
                guild = discord.Object(id=guild_id)
                tree.copy_global_to(guild=guild)
                require_valid_tree(tree, guild=guild)
                await tree.sync(guild=guild)
        else:
            require_valid_tree(tree)
            await tree.sync()

    @tasks.loop(seconds=60)
    async def heartbeat(self) -> None:
        latency = self.latency
        payload: dict[str, Any] = {
            "uptime_seconds": round(time.monotonic() - self.started, 1),
            "guilds": len(self.guilds),
            # Before the first heartbeat ACK discord.py reports inf/nan: no measurement yet.
            "latency_ms": round(latency * 1000, 1) if math.isfinite(latency) else None,
            **_lag_figures(self._lag_ms),
        }
        self._lag_ms.clear()
        await asyncio.to_thread(self.context.events.emit, "heartbeat", payload)

    async def run_core(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking core call in a worker thread (slash commands, buttons): never
        queued behind the message writes, which have their own thread."""
        return await asyncio.to_thread(function, *args, **kwargs)

    async def write(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a message-driven core write on the grant writer (batched with others)."""
        # The writer's futures are untyped (it runs any job); the job's own type is T.
        result: T = await asyncio.wrap_future(self.writer.submit(function, *args, **kwargs))
        return result

    @property
    def writer(self) -> GrantWriter:
        if self._writer is None:
            from core.db.sqlite import SqliteDatabase
            from core.economy.grant_writer import GrantWriter

            # One transaction per batch on SQLite; MongoDB writes are single-document anyway.
            database = self.context.database
            sqlite = database.transaction if isinstance(database, SqliteDatabase) else None
            self._writer = GrantWriter(sqlite)
        return self._writer

    def close_writer(self, timeout: float) -> None:
        if self._writer is not None and not self._writer.close(timeout):
            log.warning("the grant writer did not finish within %.1f s", timeout)

    # --- events and errors -------------------------------------------------------------

    def _queue_message(self, data: Any) -> None:  # noqa: ANN401 - a gateway payload
        if self.draining:
            return
        if len(self._inbox) >= _INBOX_LIMIT:
            # Far behind: parse here, which stops the reader and pushes back on the socket.
            self._parse_message(data)
            return
        self._inbox.append(data)
        if self._inbox_task is None or self._inbox_task.done():
            self._inbox_task = asyncio.get_running_loop().create_task(
                self._drain_inbox(), name="discord.py: on_message inbox"
            )

    async def _drain_inbox(self) -> None:
        """Parse and dispatch queued messages, yielding between them so interactions read
        meanwhile (and the handlers of earlier messages) run in between."""
        parsed = 0
        while self._inbox:
            data = self._inbox.popleft()
            try:
                self._parse_message(data)
            except Exception as exc:  # noqa: BLE001 - one bad payload must not stop the rest
                await record_unexpected(self.context, exc, "listener", "MESSAGE_CREATE")
            parsed += 1
            # sleep(0) alone queues each message's handler tasks faster than they finish, and
            # one loop turn then runs thousands of them while a slash command waits behind.
            # A real pause every few messages lets the turn finish short.
            if parsed % _INBOX_SLICE == 0:
                await asyncio.sleep(_INBOX_PAUSE)
            else:
                await asyncio.sleep(0)

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: cogs' listeners do the work (no CommandNotFound noise)."""

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - any event's arguments, as discord.py's
        if self.draining and event_name in _INCOMING and not self._inbox_running():
            return
        super().dispatch(event_name, *args, **kwargs)

    def _inbox_running(self) -> bool:
        # Messages received before shutdown are still handled while the inbox drains.
        current = asyncio.current_task()
        return current is not None and current is self._inbox_task

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - any event's arguments, as discord.py's
        """A listener raised: the traceback to the log and an ERROR event, with a reference."""
        import sys

        error = sys.exc_info()[1]
        if error is not None:
            await record_unexpected(self.context, error, "listener", event_method)

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await answer_failure(self.context, interaction, error, "slash_command")

    # --- shutdown ----------------------------------------------------------------------

    async def drain(self, grace: float) -> int:
        """Stop taking events and wait (at most `grace` s) for running handlers; returns how
        many were still running when the wait ended."""
        self.draining = True
        # Interactions parsed after this are not run. discord.py's check is a method meant
        # to be overridden in a subclass; this one tree instance refuses from now on.
        self.tree.interaction_check = _refuse_all  # type: ignore[method-assign]
        current = asyncio.current_task()
        running = [
            task
            for task in asyncio.all_tasks()
            if task is not current and task.get_name().startswith(_HANDLER_TASKS)
        ]
        if running:
            _, pending = await asyncio.wait(running, timeout=grace)
            return len(pending)
        return 0


def _lag_figures(samples: collections.deque[float]) -> dict[str, float | None]:
    """Event-loop lag since the last heartbeat: p50, p99 and max, in ms."""
    if not samples:
        return {"loop_lag_ms_p50": None, "loop_lag_ms_p99": None, "loop_lag_ms_max": None}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"loop_lag_ms_p50": at(0.5), "loop_lag_ms_p99": at(0.99), "loop_lag_ms_max": at(1.0)}


async def _refuse_all(interaction: discord.Interaction) -> bool:
    return False


def _intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True  # message XP and chat read message text
    intents.members = False
    return intents


class AbbyBot(AbbyBotBase, commands.Bot):
    """One process, one gateway connection."""

    def __init__(self, context: AppContext, **options: Any) -> None:  # noqa: ANN401 - discord.py's Bot options
        settings = context.settings.discord
        super().__init__(
            command_prefix=commands.when_mentioned,  # unused: on_message runs no commands
            help_command=None,
            intents=_intents(),
            owner_ids=set(settings.owner_ids) or None,
            # Nothing the bot sends pings anyone unless that one call names who it addresses.
            allowed_mentions=NO_PINGS,
            **options,
        )
        self._setup(context)


class ShardedAbbyBot(AbbyBotBase, commands.AutoShardedBot):
    """Only when sharding is configured (`discord.shard_count`, optionally `shard_ids`)."""

    def __init__(self, context: AppContext, **options: Any) -> None:  # noqa: ANN401 - discord.py's Bot options
        settings = context.settings.discord
        if settings.shard_ids:  # else discord.py picks every shard of shard_count
            options["shard_ids"] = list(settings.shard_ids)
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=_intents(),
            shard_count=settings.shard_count,
            owner_ids=set(settings.owner_ids) or None,
            allowed_mentions=NO_PINGS,
            **options,
        )
        self._setup(context)


def _yield_between_frames(socket_class: type[DiscordWebSocket]) -> None:
    """Make the gateway reader yield to the event loop every few milliseconds.

    discord.py's reader loops on `receive()`, which does not suspend while the socket has
    buffered data: during a burst it handled thousands of frames before any handler or slash
    command ran (event-loop lag p99 311 ms at 5,000 messages). One `sleep(0)` per frame lets
    them interleave.
    """
    if getattr(socket_class.poll_event, "_abby_fair", False):
        return
    original = socket_class.poll_event

    last_yield = time.perf_counter()

    async def poll_event(self: DiscordWebSocket) -> None:
        nonlocal last_yield
        await original(self)
        # A short slice, not every frame: reading stays fast (an interaction behind a burst
        # of messages is read within milliseconds) and others still get the loop.
        if time.perf_counter() - last_yield > _READ_SLICE:
            await asyncio.sleep(0)
            last_yield = time.perf_counter()

    poll_event._abby_fair = True  # type: ignore[attr-defined]  # a marker on the function object
    socket_class.poll_event = poll_event  # type: ignore[method-assign]  # the patch itself


def build_bot(context: AppContext) -> AbbyBot | ShardedAbbyBot:
    """The bot class the settings call for, pointed at the configured REST and gateway."""
    import yarl
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    settings = context.settings.discord
    # Class attributes: discord.py reads them for every request and connection.
    Route.BASE = settings.api_base_url
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)
    _yield_between_frames(DiscordWebSocket)
    # Abby has no voice features; don't warn about voice libraries on every start.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    if settings.shard_count is not None:
        return ShardedAbbyBot(context)
    return AbbyBot(context)


@dataclass(frozen=True)
class DryRun:
    """What `abby bot run --dry-run` checked."""

    bot_class: str
    backend: str
    cogs: list[str]
    commands: list[str]
    sync_to: list[str]
    token: str  # "set" or "missing (...)"


async def _close_unstarted(bot: AbbyBot | ShardedAbbyBot) -> None:
    """Close a bot that never connected (the sharded close expects running shards)."""
    for extension in tuple(bot.extensions):
        await bot.unload_extension(extension)
    await bot.http.close()


def dry_run(context: AppContext) -> DryRun:
    """Boot everything short of logging in: config, database and migrations, the RAG store,
    the persona, every cog and the command tree (validated as Discord would)."""

    async def boot() -> DryRun:
        from core.persona.persona import load_persona

        bot = build_bot(context)
        await bot.load_cogs()
        await asyncio.to_thread(lambda: context.rag)
        await asyncio.to_thread(
            load_persona, context.settings.persona.name, context.settings.data_dir
        )
        require_valid_tree(bot.tree)
        names = sorted(c.qualified_name for c in bot.tree.walk_commands())
        guilds = [str(g) for g in context.settings.discord.sync_guilds] or ["global"]
        token = "set" if context.settings.discord.token else f"missing ({TOKEN_HINT})"
        report = DryRun(
            type(bot).__name__,
            context.settings.database.backend,
            sorted(bot.cogs),
            names,
            guilds,
            token,
        )
        await _close_unstarted(bot)
        return report

    return asyncio.run(boot())


TOKEN_HINT = "set ABBY_DISCORD__TOKEN, or discord.token in a 0600 config file"


def run(context: AppContext) -> None:
    """Run the bot until SIGTERM or SIGINT. The token comes from settings (never logged).

    Raises ConfigError for a missing or refused token or a missing privileged intent, and
    ServiceUnavailable when Discord cannot be reached.
    """
    import aiohttp

    from core.errors import ConfigError, ServiceUnavailable

    token = context.settings.discord.token
    if token is None:
        raise ConfigError(f"no Discord token: {TOKEN_HINT}")
    bot = build_bot(context)
    try:
        asyncio.run(_serve(bot, token.get_secret_value()))
    except discord.LoginFailure as exc:
        raise ConfigError("Discord refused the token (ABBY_DISCORD__TOKEN)") from exc
    except discord.PrivilegedIntentsRequired as exc:
        raise ConfigError(
            "Discord refused the message content intent: enable it for this bot in the "
            "Developer Portal (Bot > Privileged Gateway Intents)"
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise ServiceUnavailable("cannot reach Discord; check the network and retry") from exc


async def _serve(bot: AbbyBot | ShardedAbbyBot, token: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with bot:
        running = asyncio.create_task(bot.start(token), name="abby-bot")
        stopping = asyncio.create_task(stop.wait(), name="abby-stop")
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            stopping.cancel()
            running.result()  # a failure to log in or connect
            return
        began = time.monotonic()
        grace = bot.context.settings.discord.shutdown_grace_seconds
        left = await bot.drain(grace)
        # discord.py's close races its own gateway reader, which answers the closing socket
        # with 4000 (a reconnectable close) first: stop the reader, then close with 1000.
        running.cancel()
        await asyncio.wait({running}, timeout=5)
        ws = getattr(bot, "ws", None)
        if isinstance(bot, AbbyBot) and ws is not None and ws.open:
            await ws.close(code=1000)
        await bot.close()
        await asyncio.to_thread(bot.close_writer, grace)
        log.info("bot stopped in %.2f s (%d handlers cut short)", time.monotonic() - began, left)


# --- operator commands: sync and invite URL --------------------------------------------

# Every bot reads the messages it grants XP for; cogs add what they need (`bot_permissions`).
BASE_PERMISSIONS = discord.Permissions(view_channel=True)


@dataclass(frozen=True)
class CommandChange:
    name: str
    change: str  # "added", "changed", "removed" or "unchanged"


def sync(context: AppContext, guild_id: int | None = None) -> list[CommandChange]:
    """Log in over REST (no gateway), sync the command tree globally or to one guild, and
    say what changed. Raises ConfigError for a missing or refused token."""
    from core.errors import ConfigError

    token = context.settings.discord.token
    if token is None:
        raise ConfigError(f"no Discord token: {TOKEN_HINT}")

    async def go() -> list[CommandChange]:
        bot = build_bot(context)
        bot.rest_only = True
        try:
            await bot.login(token.get_secret_value())
        except discord.LoginFailure as exc:
            raise ConfigError("Discord refused the token (ABBY_DISCORD__TOKEN)") from exc
        try:
            for extension in COGS:
                await bot.load_extension(extension)
            guild = discord.Object(id=guild_id) if guild_id else None
            if guild is not None:
                bot.tree.copy_global_to(guild=guild)
            require_valid_tree(bot.tree, guild=guild)
            # Raw JSON both sides: Discord's copy as it returns it, ours as sync sends it.
            app_id = bot.application_id
            if app_id is None:  # login reads it from Discord; without it nothing syncs
                raise ConfigError("Discord did not say which application the token is for")
            if guild is None:
                stored = await bot.http.get_global_commands(app_id)
            else:
                stored = await bot.http.get_guild_commands(app_id, guild.id)
            before = {c["name"]: c for c in stored}
            local = bot.tree.get_commands(guild=guild)
            after = {c["name"]: c for c in (command.to_dict(bot.tree) for command in local)}
            await bot.tree.sync(guild=guild)
        finally:
            await bot.close()
        return _changes(before, after)

    return asyncio.run(go())


def _changes(
    before: Mapping[str, Mapping[str, object]], after: Mapping[str, Mapping[str, object]]
) -> list[CommandChange]:
    # Discord adds ids, versions and defaults to what it stores: compare what we send.
    def same(old: Mapping[str, object], new: Mapping[str, object]) -> bool:
        return all(
            old.get(key) == value
            for key, value in new.items()
            if key not in ("nsfw", "integration_types", "contexts", "dm_permission")
        )

    changes = [
        CommandChange(
            name,
            "added"
            if name not in before
            else "unchanged"
            if same(before[name], after[name])
            else "changed",
        )
        for name in sorted(after)
    ]
    changes += [CommandChange(name, "removed") for name in sorted(set(before) - set(after))]
    return changes


def invite_url(context: AppContext, client_id: int | None = None) -> str:
    """The OAuth2 URL adding the bot with scopes bot + applications.commands and exactly the
    permissions the loaded cogs declare (`bot_permissions`). The application id comes from
    `client_id`, else from the token (its first part encodes it); nothing goes online."""
    from core.errors import ConfigError

    app_id = client_id or _id_from_token(context)
    if app_id is None:
        raise ConfigError(f"no application id: pass --client-id or {TOKEN_HINT}")

    async def permissions() -> discord.Permissions:
        bot = build_bot(context)
        for extension in COGS:
            await bot.load_extension(extension)
        needed = discord.Permissions(BASE_PERMISSIONS.value)
        for cog in bot.cogs.values():
            needed |= getattr(cog, "bot_permissions", discord.Permissions.none())
        await _close_unstarted(bot)
        return needed

    return discord.utils.oauth_url(
        app_id,
        permissions=asyncio.run(permissions()),
        scopes=("bot", "applications.commands"),
    )


def _id_from_token(context: AppContext) -> int | None:
    import base64
    import binascii

    token = context.settings.discord.token
    if token is None:
        return None
    first = token.get_secret_value().split(".", 1)[0]
    try:
        decoded = base64.b64decode(first + "=" * (-len(first) % 4), validate=False).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(decoded) if decoded.isdigit() else None
