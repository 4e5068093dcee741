"""`abby bot run --dry-run`, `abby bot sync`, `abby bot invite-url` and start-up errors, run as
an operator would (the CLI as a separate process), and error paths a member or an operator
would notice through the real bot process."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import discord
import pytest

from tests.bot.conftest import LiveBot
from tests.conftest import run_abby
from tests.support.bot_process import TOKEN
from tests.support.discord_standin import APPLICATION_ID, DiscordStandIn

EXPECTED = {"rank", "pay", "balance", "profile", "leaderboard", "search", "ask", "imagine", "quota"}
EXPECTED |= {"privacy"}


@pytest.mark.slow
def test_dry_run_boots_everything_and_lists_the_commands_without_a_token(tmp_path) -> None:  # noqa: ANN001
    env = {"ABBY_DATA_DIR": str(tmp_path / "data")}
    began = time.monotonic()
    result = run_abby("bot", "run", "--dry-run", "--json", env=env)
    took = time.monotonic() - began
    assert result.exit_code == 0, result.output
    report = result.json()
    assert EXPECTED <= set(report["commands"])
    assert report["bot_class"] == "AbbyBot" and report["backend"] == "sqlite"
    assert {"Economy", "Users", "Rag", "Images", "Chat"} <= set(report["cogs"])
    assert report["token"].startswith("missing (set ABBY_DISCORD__TOKEN")
    assert (tmp_path / "data" / "abby.db").exists()  # migrations ran
    assert took < 30, f"dry run took {took:.1f} s"


def test_run_without_a_token_is_one_line_saying_where_to_put_it_and_exit_78(tmp_path) -> None:  # noqa: ANN001
    result = run_abby("bot", "run", env={"ABBY_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 78, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "ABBY_DISCORD__TOKEN" in lines[0], result.output


def test_there_is_no_token_flag() -> None:
    result = run_abby("bot", "run", "--token", "x")
    assert result.exit_code == 2, result.output


def test_sharding_picks_the_sharded_class_only_when_configured(tmp_path) -> None:  # noqa: ANN001
    env = {
        "ABBY_DATA_DIR": str(tmp_path / "data"),
        "ABBY_DISCORD__SHARD_COUNT": "4",
        "ABBY_DISCORD__SHARD_IDS": "[0, 1]",
    }
    result = run_abby("bot", "run", "--dry-run", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert result.json()["bot_class"] == "ShardedAbbyBot"
    bad = run_abby("bot", "run", "--dry-run", env={**env, "ABBY_DISCORD__SHARD_IDS": "[4]"})
    assert bad.exit_code == 78 and "shard_ids" in bad.stderr, bad.output


def test_sync_prints_what_changed_and_a_second_sync_changes_nothing(tmp_path) -> None:  # noqa: ANN001
    with DiscordStandIn() as standin:
        env = {
            "ABBY_DATA_DIR": str(tmp_path / "data"),
            "ABBY_DISCORD__TOKEN": TOKEN,
            "ABBY_DISCORD__API_BASE_URL": standin.base_url,
        }
        first = run_abby("bot", "sync", "--guild", str(standin.guild_id), "--json", env=env)
        assert first.exit_code == 0, first.output
        changes = {c["name"]: c["change"] for c in first.json()}
        assert EXPECTED <= set(changes) and set(changes.values()) == {"added"}
        assert standin.command_syncs()[-1].path.endswith(f"/guilds/{standin.guild_id}/commands")
        second = run_abby("bot", "sync", "--guild", str(standin.guild_id), "--json", env=env)
        assert {c["change"] for c in second.json()} == {"unchanged"}, second.output
        assert not any(r.path == "/gateway/bot" for r in standin.requests)  # REST only


def test_invite_url_has_both_scopes_and_the_permissions_the_cogs_declare(tmp_path) -> None:  # noqa: ANN001
    env = {"ABBY_DATA_DIR": str(tmp_path / "data"), "ABBY_DISCORD__TOKEN": TOKEN}
    result = run_abby("bot", "invite-url", "--json", env=env)
    assert result.exit_code == 0, result.output
    query = parse_qs(urlsplit(result.json()["url"]).query)
    assert query["scope"] == ["bot applications.commands"]
    assert query["client_id"] == ["123456789012345678"]  # from the token's first part
    granted = discord.Permissions(int(query["permissions"][0]))
    assert granted.view_channel and granted.send_messages
    assert not granted.administrator and not granted.mention_everyone
    no_id = run_abby("bot", "invite-url", env={"ABBY_DATA_DIR": str(tmp_path / "data")})
    assert no_id.exit_code == 78 and "--client-id" in no_id.stderr, no_id.output


@pytest.mark.slow
def test_a_failure_after_a_public_defer_is_private_and_names_no_setting(start_bot) -> None:  # noqa: ANN001
    bot: LiveBot = start_bot()  # no Stability key configured
    interaction = bot.standin.interact("imagine", {"prompt": "a red fox"}, user=8101)
    reply = interaction.wait_reply(30)
    assert reply.ephemeral, reply
    assert "ABBY_" not in reply.content and "api_key" not in reply.content
    assert reply.content.startswith("⚠️")
    assert [r.kind for r in interaction.replies][:2] == ["callback", "delete"]


@pytest.mark.slow
def test_mentions_log_no_command_noise_and_a_listener_failure_is_an_error_event(
    start_bot,  # noqa: ANN001
) -> None:
    bot: LiveBot = start_bot()
    bot.standin.send_message(user=8201, content=f"<@{APPLICATION_ID}> hi !help")
    # A payload discord.py cannot parse (no author) fails inside the message handling.
    broken = bot.standin.message_event(user=8202)
    del broken["author"]
    bot.standin.dispatch("MESSAGE_CREATE", broken)
    context = bot.context()
    try:
        events = bot.standin.wait_for(
            lambda: [e for e in context.events.tail(100) if e["type"] == "error"], 10, "ERROR"
        )
    finally:
        context.close()
    assert events[0]["payload"]["where"] == "listener" and events[0]["payload"]["reference"]
    log = (bot.process.log.parent / "logs" / "abby.log").read_text()
    assert "CommandNotFound" not in log
    assert events[0]["payload"]["reference"] in log
    assert json.loads(log.splitlines()[-1])  # the log stays one JSON object per line
