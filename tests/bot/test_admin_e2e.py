"""Moderation through the real `abby bot run` process and the Discord stand-in's gateway.

The stand-in dispatches whatever command a test asks for, as Discord does once a server admin
has edited a command's default permissions to show it to everyone: the refusal a member sees
is the core's check in the handler.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from core.config import load_settings
from core.context import AppContext
from tests.bot.conftest import backend_env
from tests.conftest import BACKENDS
from tests.support.bot_process import BotProcess
from tests.support.discord_standin import GUILD_ID, MEMBER_PERMISSIONS, DiscordStandIn

pytestmark = pytest.mark.slow
GUILD = str(GUILD_ID)
MOD_ROLE, OTHER_ROLE = 820000000000000001, 820000000000000002
MANAGE_GUILD = 1 << 5


class GuildWithRoles(DiscordStandIn):
    """The stand-in's guild, with a moderator role and another one in its GUILD_CREATE."""

    def _guild(self) -> dict[str, Any]:
        guild = super()._guild()
        for role_id, name in ((MOD_ROLE, "Moderators"), (OTHER_ROLE, "Regulars")):
            guild["roles"].append({**guild["roles"][0], "id": str(role_id), "name": name})
        return guild


@pytest.fixture(scope="module", params=BACKENDS)
def bot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GuildWithRoles, dict[str, str]]]:
    env = backend_env(request.param, tmp_path_factory.mktemp("bot") / "data", request)
    env["ABBY_DISCORD__MODERATOR_ROLE_IDS"] = json.dumps({GUILD: [str(MOD_ROLE)]})
    with GuildWithRoles() as standin, BotProcess(standin, env) as process:
        process.wait_ready()
        yield standin, env


def _xp(env: dict[str, str], user: int) -> int:
    context = AppContext(load_settings(environ=env))
    try:
        return context.xp.get(str(user), guild_id=GUILD).xp
    finally:
        context.close()


def test_xp_admin_add_by_a_member_shown_the_command_is_refused_privately(bot) -> None:  # noqa: ANN001
    standin, env = bot
    reply = standin.interact(
        "xp-admin",
        {"member": 6302, "amount": 500, "reason": "friend of mine"},
        subcommand="add",
        user=6301,
        roles=(OTHER_ROLE,),
        permissions=MEMBER_PERMISSIONS,
    ).wait_reply()
    assert reply.ephemeral, reply
    assert "for moderators" in reply.content
    assert _xp(env, 6302) == 0


def test_xp_admin_add_by_a_moderator_grants_and_answers_privately(bot) -> None:  # noqa: ANN001
    standin, env = bot
    reply = standin.interact(
        "xp-admin",
        {"member": 6312, "amount": 500},
        subcommand="add",
        user=6311,
        roles=(MOD_ROLE,),
    ).wait_reply()
    assert reply.ephemeral and "now 500 XP" in reply.content, reply
    assert _xp(env, 6312) == 500


def test_bank_admin_needs_manage_server_or_an_admin_role(bot) -> None:  # noqa: ANN001
    standin, env = bot
    args = {"member": 6322, "amount": 70, "reason": "prize"}
    refused = standin.interact(
        "bank-admin", args, subcommand="add", user=6321, roles=(MOD_ROLE,)
    ).wait_reply()
    assert refused.ephemeral and "for server admins" in refused.content, refused
    owner = str(int(MEMBER_PERMISSIONS) | MANAGE_GUILD)
    minted = standin.interact(
        "bank-admin", args, subcommand="add", user=6323, permissions=owner
    ).wait_reply()
    assert minted.ephemeral and "Added 70" in minted.content, minted
    context = AppContext(load_settings(environ=env))
    try:
        assert context.bank.balance("6322", guild_id=GUILD).balance == 70
    finally:
        context.close()


def test_bank_admin_add_to_a_bot_is_refused_privately_but_remove_cleans_it_up(bot) -> None:  # noqa: ANN001
    standin, env = bot
    owner = str(int(MEMBER_PERMISSIONS) | MANAGE_GUILD)
    a_bot = {6339: {"bot": True}}
    refused = standin.interact(
        "bank-admin", {"member": 6339, "amount": 70, "reason": "prize"}, subcommand="add",
        user=6333, permissions=owner, members=a_bot,
    ).wait_reply()  # fmt: skip
    assert refused.ephemeral and refused.content.startswith("⚠️"), refused
    assert "bots cannot hold currency" in refused.content
    context = AppContext(load_settings(environ=env))
    try:
        assert context.bank.balance("6339", guild_id=GUILD).balance == 0
        context.bank.add("6339", 30, guild_id=GUILD, reason="minted before bots were refused")
    finally:
        context.close()
    removed = standin.interact(
        "bank-admin", {"member": 6339, "amount": 30, "reason": "clean up"}, subcommand="remove",
        user=6333, permissions=owner, members=a_bot,
    ).wait_reply()  # fmt: skip
    assert removed.ephemeral and "Removed 30" in removed.content, removed
    context = AppContext(load_settings(environ=env))
    try:
        assert context.bank.balance("6339", guild_id=GUILD).balance == 0
    finally:
        context.close()
