"""Quota role limits match the member's role ids through the real bot process (both backends):
the id Discord sends raises the day's limit; a role merely named like the configured key does
nothing, since names are never compared."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.bot.conftest import LiveBot, backend_env
from tests.conftest import BACKENDS
from tests.support.bot_process import BotProcess
from tests.support.discord_standin import DiscordStandIn

pytestmark = pytest.mark.slow
ARTIST, NAMESAKE = 880000000000000005, 880000000000000006


@pytest.fixture(scope="module", params=BACKENDS)
def live_bot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveBot]:
    """The conftest's bot, on a guild that has the roles (discord.py keeps only a member's
    roles that the guild has), with a role limit keyed by the Artist role's id."""
    env = backend_env(request.param, tmp_path_factory.mktemp("bot") / "data", request)
    env["ABBY_QUOTA__ROLE_LIMITS"] = json.dumps({str(ARTIST): 20})
    roles = {"Artist": ARTIST, str(ARTIST): NAMESAKE}  # the second is only named like the id
    with DiscordStandIn(roles=roles) as standin, BotProcess(standin, env) as process:
        yield LiveBot(standin, process, env, process.wait_ready())


def _today(bot: LiveBot, user: int, roles: tuple[int, ...]) -> str:
    reply = bot.standin.interact("quota", user=user, roles=roles).wait_reply(10)
    assert reply.ephemeral
    return next(f for f in reply.embeds[0]["fields"] if f["name"] == "Today")["value"]


def test_a_members_role_id_raises_the_daily_image_limit(live_bot: LiveBot) -> None:
    assert _today(live_bot, 8101, (ARTIST,)) == "20 of 20 left"


def test_a_role_only_named_like_the_configured_id_keeps_the_base_limit(
    live_bot: LiveBot,
) -> None:
    assert _today(live_bot, 8102, (NAMESAKE,)) == "5 of 5 left"
