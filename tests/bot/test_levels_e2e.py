"""Levels that reward, through the real `abby bot run` process and the Discord stand-in, on
both backends: reward roles (from messages, voice, the CLI while the bot runs, and across a
restart), announcements in the configured channel that ping only the member, a role above
the bot reported once, and voice XP only for eligible members."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import load_settings
from core.context import AppContext
from tests.bot.conftest import backend_env
from tests.conftest import BACKENDS, run_abby
from tests.support.bot_process import BotProcess
from tests.support.discord_standin import (
    CHANNEL_IDS,
    GUILD_ID,
    VOICE_CHANNEL_IDS,
    DiscordStandIn,
)

pytestmark = pytest.mark.slow
GUILD = str(GUILD_ID)
ROLE_L1, ROLE_L2, ROLE_L3 = 850000000000000001, 850000000000000002, 850000000000000003
ANNOUNCE = CHANNEL_IDS[3]
TEMPLATE = "GG {member}, you are level {level} now! @everyone <@&850000000000000001>"


@dataclass
class Running:
    standin: DiscordStandIn
    process: BotProcess
    env: dict[str, str]

    def context(self) -> AppContext:
        return AppContext(load_settings(environ=self.env))

    def xp(self, user: int) -> int:
        context = self.context()
        try:
            return context.xp.get(str(user), guild_id=GUILD).xp
        finally:
            context.close()

    def role_puts(self, role: int) -> list[str]:
        return [
            r.path
            for r in list(self.standin.requests)
            if r.method == "PUT" and r.path.endswith(f"/roles/{role}")
        ]


def _prepare(env: dict[str, str]) -> None:
    context = AppContext(load_settings(environ=env))
    try:
        context.xp.rewards.add_reward(GUILD, 1, str(ROLE_L1))
        context.xp.rewards.add_reward(GUILD, 2, str(ROLE_L2))
        context.xp.update_settings(
            {
                "announce_channel": str(ANNOUNCE),
                "announce_template": TEMPLATE,
                "min_grant": 100,
                "max_grant": 100,
                "voice_xp_per_minute": 100,
            },
            guild_id=GUILD,
        )
    finally:
        context.close()


@pytest.fixture(scope="module", params=BACKENDS)
def bot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    env = backend_env(request.param, tmp_path_factory.mktemp("bot") / "data", request)
    env.update({"ABBY_XP__REWARD_POLL_SECONDS": "0.5", "ABBY_XP__VOICE_SWEEP_SECONDS": "1"})
    _prepare(env)
    roles = {"Level 1": ROLE_L1, "Level 2": ROLE_L2, "Level 3": ROLE_L3}
    with DiscordStandIn(roles=roles) as standin, BotProcess(standin, env) as process:
        process.wait_ready()
        yield Running(standin, process, env)


def _announcements(standin: DiscordStandIn, user: int) -> list[dict]:
    return [
        r.payload
        for r in standin.channel_messages(ANNOUNCE)
        if isinstance(r.payload, dict) and f"<@{user}>" in (r.payload.get("content") or "")
    ]


@pytest.mark.slow
def test_a_member_reaching_a_level_gets_the_role_and_the_announcement(bot: Running) -> None:
    bot.standin.send_message(user=7001, content="hello there", channel=CHANNEL_IDS[0])
    bot.standin.wait_for(lambda: ROLE_L1 in bot.standin.member_roles(7001), 15, "the role")
    (posted,) = bot.standin.wait_for(lambda: _announcements(bot.standin, 7001), 10, "the line")
    assert "you are level 1 now" in posted["content"]
    # The template's @everyone and role mention neither ping nor show as pings.
    assert "@everyone" not in posted["content"] and "<@&" not in posted["content"]
    assert [str(u) for u in posted["allowed_mentions"]["users"]] == ["7001"], posted
    assert posted["allowed_mentions"].get("parse", []) == []
    assert not bot.standin.channel_messages(CHANNEL_IDS[0])  # not where the member spoke
    assert ROLE_L2 not in bot.standin.member_roles(7001)


def test_a_cli_grant_while_the_bot_runs_gets_the_roles_within_seconds(bot: Running) -> None:
    result = run_abby("xp", "add", "7002", "300", "--guild", GUILD, "--json", env=bot.env)
    assert result.exit_code == 0, result.output
    began = time.monotonic()
    bot.standin.wait_for(
        lambda: {ROLE_L1, ROLE_L2} <= bot.standin.member_roles(7002), 15, "both roles"
    )
    assert time.monotonic() - began < 10
    time.sleep(1.5)  # a few more polls: nothing is applied twice
    assert [p for p in bot.role_puts(ROLE_L2) if "/7002/" in p] == [
        f"/guilds/{GUILD}/members/7002/roles/{ROLE_L2}"
    ]


def test_a_mee6_import_while_the_bot_runs_gets_the_roles(bot: Running, tmp_path) -> None:  # noqa: ANN001
    export = tmp_path / "mee6.json"
    players = [{"id": "7021", "xp": 300, "username": "imported"}, {"id": "7022", "xp": 5}]
    export.write_text(json.dumps({"players": players}))
    result = run_abby("xp", "import-mee6", str(export), "--guild", GUILD, "--yes", env=bot.env)
    assert result.exit_code == 0, result.output
    bot.standin.wait_for(
        lambda: {ROLE_L1, ROLE_L2} <= bot.standin.member_roles(7021), 15, "the imported roles"
    )
    assert not bot.standin.member_roles(7022)


def test_a_role_above_the_bot_is_reported_once_and_not_retried(bot: Running) -> None:
    above = bot.standin.add_role("Legend", above_bot=True)
    context = bot.context()
    try:
        context.xp.rewards.add_reward(GUILD, 3, str(above))
        for user in ("7011", "7012", "7013"):
            context.xp.add(user, 1_000, guild_id=GUILD)  # level 4
    finally:
        context.close()
    for user in (7011, 7012, 7013):
        bot.standin.wait_for(lambda u=user: ROLE_L2 in bot.standin.member_roles(u), 15, "roles")
    time.sleep(1.5)
    assert len(bot.role_puts(above)) == 1  # refused once, then skipped
    context = bot.context()
    try:
        rules = context.xp.rewards.rewards(GUILD)
        assert str(above) in rules.blocked_roles
        assert context.xp.rewards.pending([GUILD]) == []
        events = context.events.tail(20, event_type="governance.xp_reward_blocked")
        assert [e["payload"]["role_id"] for e in events] == [str(above)]
    finally:
        context.close()


@pytest.mark.slow
def test_voice_xp_goes_only_to_eligible_members_and_levels_up_with_roles(bot: Running) -> None:
    vc0, vc1 = VOICE_CHANNEL_IDS[0], VOICE_CHANNEL_IDS[1]
    afk = bot.standin.afk_channel_id
    bot.standin.voice(7101, vc0)
    bot.standin.voice(7102, vc0)
    bot.standin.voice(7103, vc0, self_mute=True)
    bot.standin.voice(7104, vc0, deaf=True)
    bot.standin.voice(7105, vc1)  # alone
    bot.standin.voice(7106, afk)
    bot.standin.voice(7107, afk)
    bot.standin.wait_for(lambda: bot.xp(7101) >= 100, 15, "voice XP")
    time.sleep(1.2)  # at least one more sweep
    assert bot.xp(7102) >= 100
    assert [bot.xp(u) for u in (7103, 7104, 7105, 7106, 7107)] == [0, 0, 0, 0, 0]
    # The voice level-up got its role and its announcement.
    bot.standin.wait_for(lambda: ROLE_L1 in bot.standin.member_roles(7101), 10, "the role")
    bot.standin.wait_for(lambda: _announcements(bot.standin, 7101), 10, "the announcement")
    # Leaving stops the pay.
    bot.standin.voice(7101, None)
    bot.standin.voice(7102, None)
    time.sleep(1.2)
    settled = bot.xp(7101)
    time.sleep(2.2)
    assert bot.xp(7101) == settled


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_a_grant_made_while_the_bot_is_down_is_applied_once_after_restart(
    tmp_path: Path, request: pytest.FixtureRequest, backend_name: str
) -> None:
    env = backend_env(backend_name, tmp_path / "data", request)
    env["ABBY_XP__REWARD_POLL_SECONDS"] = "0.5"
    _prepare(env)
    context = AppContext(load_settings(environ=env))
    try:
        context.xp.add("7301", 150, guild_id=GUILD)  # level 1, the bot not running
    finally:
        context.close()
    with DiscordStandIn(roles={"Level 1": ROLE_L1, "Level 2": ROLE_L2}) as standin:
        with BotProcess(standin, env) as process:
            process.wait_ready()
            standin.wait_for(lambda: ROLE_L1 in standin.member_roles(7301), 15, "the role")
            assert process.stop() == 0
        standin.identified.clear()
        with BotProcess(standin, env) as process:  # a restart: the mark was cleared
            process.wait_ready()
            time.sleep(1.5)
            assert process.stop() == 0
        puts = [r for r in standin.requests if r.method == "PUT" and "/roles/" in r.path]
        assert [r.path for r in puts] == [f"/guilds/{GUILD}/members/7301/roles/{ROLE_L1}"]


def test_xp_settings_show_the_reward_configuration(bot: Running) -> None:
    """The announcement settings are plain XP settings, shown by `abby xp settings`."""
    result = run_abby("xp", "settings", "--guild", GUILD, "--json", env=bot.env)
    shown = json.loads(result.stdout)
    assert shown["announce_channel"] == str(ANNOUNCE)
    assert [row[0] for row in shown["level_roles"]][:2] == [1, 2]


def _mentions(message: dict) -> list[str]:
    return re.findall(r"<@(\d+)>", message["embeds"][0]["description"])


def test_leaderboard_pages_turn_for_the_invoker_only(bot: Running) -> None:
    context = bot.context()
    try:
        for n in range(12):  # far above everyone else in this guild: pages 1-3 are theirs
            context.xp.add(str(7400 + n), 10**9 + n, guild_id=GUILD)
    finally:
        context.close()
    reply = bot.standin.interact("leaderboard", {"limit": 5}, user=7400).wait_reply()
    first = bot.standin.sent_message(reply.message_id)
    assert _mentions(first) == [str(7411 - n) for n in range(5)]
    turned = bot.standin.press(reply.message_id, "pages:next", user=7400)
    turned.wait_acknowledged()
    bot.standin.wait_for(
        lambda: _mentions(bot.standin.sent_message(reply.message_id))[0] == "7406", 10, "page 2"
    )
    second = bot.standin.sent_message(reply.message_id)
    assert _mentions(second) == [str(7406 - n) for n in range(5)]
    assert "Page 2" in second["embeds"][0]["footer"]["text"]
    other = bot.standin.press(reply.message_id, "pages:prev", user=7499).wait_reply()
    assert other.ephemeral and "Only <@7400>" in other.content
    assert _mentions(bot.standin.sent_message(reply.message_id))[0] == "7406"


def test_rank_shows_progress_to_the_next_level_with_a_bar(bot: Running) -> None:
    context = bot.context()
    try:
        context.xp.add("7501", 2_900 + 500, guild_id=GUILD)  # level 8: 2,900; level 9: 3,720
    finally:
        context.close()
    reply = bot.standin.interact("rank", user=7501).wait_reply()
    fields = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
    assert fields["Progress to level 9"] == "▰▰▰▰▰▰▰▱▱▱▱▱ 500 / 820 XP (60%)", fields


# --- /levels: admins configure rewards and announcements in Discord ------------------------

MANAGE_GUILD = 1 << 5


class ResolvingStandIn(DiscordStandIn):
    """The stand-in, resolving role and channel options as Discord does for these tests."""

    def _options(self, name, declared, given, members):  # noqa: ANN001, ANN202
        kinds = {o["name"]: o["type"] for o in declared}
        picked = {k: v for k, v in given.items() if kinds.get(k) in (7, 8)}
        wire, resolved = super()._options(
            name, declared, {k: v for k, v in given.items() if k not in picked}, members
        )
        for key, value in picked.items():
            if kinds[key] == 8:
                resolved.setdefault("roles", {})[str(value)] = self.roles[int(value)]
            else:
                resolved.setdefault("channels", {})[str(value)] = {
                    "id": str(value), "type": 0, "name": "announcements",
                    "permissions": str((1 << 50) - 1), "guild_id": str(self.guild_id),
                }  # fmt: skip
            wire.append({"name": key, "type": kinds[key], "value": str(value)})
        return wire, resolved


@pytest.fixture(scope="module", params=BACKENDS)
def admin_bot(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):  # noqa: ANN201
    env = backend_env(request.param, tmp_path_factory.mktemp("bot") / "data", request)
    env.update(
        {"ABBY_XP__REWARD_POLL_SECONDS": "0.5", "ABBY_XP__MIN_GRANT": "100",
         "ABBY_XP__MAX_GRANT": "100", "ABBY_XP__VOICE_SWEEP_SECONDS": "1"}
    )  # fmt: skip
    # Two members already in voice when the bot connects (GUILD_CREATE's voice_states).
    voice = {7701: VOICE_CHANNEL_IDS[2], 7702: VOICE_CHANNEL_IDS[2]}
    standin = ResolvingStandIn(roles={"Level 1": ROLE_L1}, voice=voice)
    with standin, BotProcess(standin, env) as bot:
        bot.wait_ready()
        yield Running(standin, bot, env)


def _admin(standin: DiscordStandIn, subcommand: str, options: dict, user: int = 7601):  # noqa: ANN202
    from tests.support.discord_standin import MEMBER_PERMISSIONS

    owner = str(int(MEMBER_PERMISSIONS) | MANAGE_GUILD)
    return standin.interact("levels", options, subcommand=subcommand, user=user, permissions=owner)


@pytest.mark.slow
def test_levels_admin_sets_a_reward_and_the_announcement_channel(admin_bot: Running) -> None:
    reply = _admin(admin_bot.standin, "reward-add", {"level": 1, "role": ROLE_L1}).wait_reply()
    assert reply.ephemeral and f"<@&{ROLE_L1}>" in reply.embeds[0]["description"], reply
    reply = _admin(
        admin_bot.standin, "announce", {"channel": ANNOUNCE, "template": "{member} → {level}"}
    ).wait_reply()
    assert reply.ephemeral, reply
    admin_bot.standin.send_message(user=7602, content="hi", channel=CHANNEL_IDS[1])
    admin_bot.standin.wait_for(
        lambda: ROLE_L1 in admin_bot.standin.member_roles(7602), 15, "the reward role"
    )
    (line,) = admin_bot.standin.wait_for(
        lambda: _announcements(admin_bot.standin, 7602), 10, "the announcement"
    )
    assert line["content"] == "<@7602> → 1"


def test_levels_admin_refuses_members_and_bad_templates_privately(admin_bot: Running) -> None:
    refused = admin_bot.standin.interact(
        "levels", {"level": 5, "role": ROLE_L1}, subcommand="reward-add", user=7611
    ).wait_reply()
    assert refused.ephemeral and "for server admins" in refused.content, refused
    bad = _admin(admin_bot.standin, "announce", {"template": "{member} hit {lvl}"}).wait_reply()
    assert bad.ephemeral and "{lvl}" in bad.content, bad
    context = admin_bot.context()
    try:
        rules = context.xp.rewards.rewards(GUILD)
        assert 5 not in dict(rules.level_roles)
        assert "{lvl}" not in rules.announce_template
    finally:
        context.close()


def test_levels_admin_shows_a_role_the_bot_cannot_give_as_blocked(admin_bot: Running) -> None:
    above = admin_bot.standin.add_role("Legend", above_bot=True)
    _admin(admin_bot.standin, "reward-add", {"level": 2, "role": above}).wait_reply()
    context = admin_bot.context()
    try:
        context.xp.add("7621", 300, guild_id=GUILD)  # level 2
    finally:
        context.close()
    admin_bot.standin.wait_for(lambda: admin_bot.role_puts(above), 15, "the refused attempt")
    admin_bot.standin.wait_for(
        lambda: (
            "blocked"
            in _admin(admin_bot.standin, "rewards", {}).wait_reply().embeds[0]["description"]
        ),
        10,
        "the blocked flag",
    )


def test_members_already_in_voice_at_connect_earn_voice_xp(admin_bot: Running) -> None:
    admin_bot.standin.wait_for(lambda: admin_bot.xp(7701) > 0, 15, "voice XP")
    assert admin_bot.xp(7702) > 0


def test_an_xp_admin_grant_in_discord_gets_the_role(admin_bot: Running) -> None:
    from tests.support.discord_standin import MEMBER_PERMISSIONS

    context = admin_bot.context()
    try:
        context.xp.rewards.add_reward(GUILD, 1, str(ROLE_L1))
    finally:
        context.close()
    owner = str(int(MEMBER_PERMISSIONS) | MANAGE_GUILD)
    reply = admin_bot.standin.interact(
        "xp-admin", {"member": 7801, "amount": 150}, subcommand="add", user=7601,
        permissions=owner,
    ).wait_reply()  # fmt: skip
    assert reply.ephemeral and "now 150 XP" in reply.content, reply
    admin_bot.standin.wait_for(
        lambda: ROLE_L1 in admin_bot.standin.member_roles(7801), 15, "the reward role"
    )
