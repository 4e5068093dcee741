"""End-to-end fixtures: a Discord stand-in and the real `abby bot run` process against it.

- `discord_standin`: a fresh `tests.support.discord_standin.DiscordStandIn` (REST + gateway on
  127.0.0.1); send events with `send_message(user=..., content=...)` and
  `interact(name, {option: value}, user=...)`, read what the bot sent from the returned
  `Interaction.wait_reply()`, `channel_messages()` and `requests`.
- `live_bot`: one bot process per test module and backend (sqlite, mongo), already identified
  on its stand-in: `live_bot.standin`, `live_bot.env` (to open the same store from the test
  with `live_bot.context()`), `live_bot.process`. Tests sharing it use their own member ids.
  A module may override the module-scoped `bot_env` fixture (extra ABBY_* variables) and
  define `prepare_store(context)` (keys, documents...) run before the bot starts.
- `start_bot(env=None, args=())`: a bot process of the test's own (for shutdown tests).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import load_settings
from core.context import AppContext
from tests.conftest import BACKENDS
from tests.support.bot_process import BotProcess
from tests.support.discord_standin import DiscordStandIn


@dataclass
class LiveBot:
    standin: DiscordStandIn
    process: BotProcess
    env: dict[str, str]
    ready_seconds: float

    def context(self) -> AppContext:
        """A core context on the bot's store (close it after use)."""
        return AppContext(load_settings(environ=self.env))


def backend_env(name: str, data_dir: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    env = {"ABBY_DATA_DIR": str(data_dir), "ABBY_XP__COOLDOWN_SECONDS": "60"}
    if name == "mongo":
        env["ABBY_DATABASE__URI"] = request.getfixturevalue("mongo_uri")
        env["ABBY_DATABASE__NAME"] = f"bot{uuid.uuid4().hex[:12]}"
    return env


@pytest.fixture(scope="module")
def bot_env() -> dict[str, str]:
    """Extra ABBY_* variables for the module's bot (override in a test module)."""
    return {}


@pytest.fixture
def discord_standin() -> Iterator[DiscordStandIn]:
    with DiscordStandIn() as running:
        yield running


@pytest.fixture(scope="module", params=BACKENDS)
def live_bot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveBot]:
    env = backend_env(request.param, tmp_path_factory.mktemp("bot") / "data", request)
    env.update(request.getfixturevalue("bot_env"))
    prepare = getattr(request.module, "prepare_store", None)
    if prepare is not None:  # a module's set-up of the store before the bot starts
        context = AppContext(load_settings(environ=env))
        try:
            prepare(context)
        finally:
            context.close()
    with DiscordStandIn() as standin, BotProcess(standin, env) as process:
        ready = process.wait_ready()
        yield LiveBot(standin, process, env, ready)


@pytest.fixture
def start_bot(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., LiveBot]]:
    with ExitStack() as stack:

        def start(
            env: dict[str, str] | None = None, args: tuple[str, ...] = (), backend: str = "sqlite"
        ) -> LiveBot:
            full = {**backend_env(backend, tmp_path / "data", request), **(env or {})}
            standin = stack.enter_context(DiscordStandIn())
            process = stack.enter_context(BotProcess(standin, full, args=args))
            return LiveBot(standin, process, full, process.wait_ready())

        yield start
