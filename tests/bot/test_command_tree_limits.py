"""Issue #9, finding 10: the command tree stays within Discord's limits, checked before sync.

`/pay` declared max_value 2**63-1 while Discord's integer options stop at ±(2**53-1), and
discord.py itself accepts that (and 101-character descriptions, and 26 options): only Discord
would refuse the sync, and the bot would never start. bot/limits.py checks the payloads the
sync would send; start-up refuses to sync a tree that fails, with one line naming the
command and the rule, before anything reaches Discord.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import discord.http
import pytest
from discord import app_commands

from bot import app as bot_app
from bot.app import COGS, AbbyBot, run
from bot.limits import MAX_INTEGER, require_valid_tree, validate_payloads, validate_tree
from core.config import load_settings
from core.context import AppContext
from core.errors import ConfigError
from tests.support.discord_standin import DiscordStandIn


@pytest.fixture
def context(tmp_path: Path) -> Iterator[AppContext]:
    # The tree does not depend on the backend: SQLite in a temporary data dir is enough.
    ctx = AppContext(load_settings(environ={"ABBY_DATA_DIR": str(tmp_path / "data")}))
    yield ctx
    ctx.close()


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[DiscordStandIn]:
    with DiscordStandIn() as running:
        monkeypatch.setattr(discord.http.Route, "BASE", running.base_url)
        yield running


def tree() -> app_commands.CommandTree:
    return app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))


def command(name: str = "bad", description: str = "A command.", **options: Any) -> dict:
    return {"name": name, "description": description, "type": 1, "options": [], **options}


def option(name: str = "value", kind: int = 3, **extra: Any) -> dict:
    return {"name": name, "description": "An option.", "type": kind, **extra}


async def test_the_bots_real_tree_is_one_discord_accepts(context: AppContext) -> None:
    bot = AbbyBot(context)  # as `abby bot run` builds it, without logging in
    for extension in COGS:
        await bot.load_extension(extension)
    names = {c.name for c in bot.tree.get_commands()}
    assert {"ask", "pay", "search", "imagine", "leaderboard"} <= names
    assert validate_tree(bot.tree) == []
    pay = bot.tree.get_command("pay").to_dict(bot.tree)
    amount = next(o for o in pay["options"] if o["name"] == "amount")
    assert amount["max_value"] == 2**53 - 1 == MAX_INTEGER
    integers = [
        o for c in bot.tree.get_commands() for o in c.to_dict(bot.tree)["options"] if o["type"] == 4
    ]
    assert integers and all(-MAX_INTEGER <= o["max_value"] <= MAX_INTEGER for o in integers)


async def test_a_command_discord_would_refuse_is_reported_with_its_name_and_rule() -> None:
    many = ", ".join(f"o{i}: int" for i in range(26))
    scope: dict[str, Any] = {}
    exec(f"async def many(interaction, {many}) -> None: pass", scope)  # 26 parameters

    async def huge(
        interaction: discord.Interaction, amount: app_commands.Range[int, 1, 2**63 - 1]
    ) -> None:
        pass

    async def fine(interaction: discord.Interaction) -> None:
        pass

    commands = tree()
    commands.add_command(app_commands.Command(name="huge", description="Pay.", callback=huge))
    commands.add_command(app_commands.Command(name="wordy", description="w" * 101, callback=fine))
    commands.add_command(
        app_commands.Command(name="many", description="M.", callback=scope["many"])
    )
    problems = validate_tree(commands)
    assert problems == [
        "/huge amount: max_value 9223372036854775807 is outside Discord's ±9007199254740991"
        " (2^53-1)",
        "/wordy: command description is 101 characters, must be 1-100",
        "/many: 26 options, at most 25",
    ]
    with pytest.raises(ConfigError, match=r"^refusing to sync the global command tree") as caught:
        require_valid_tree(commands)
    assert "/huge amount: max_value" in str(caught.value) and "(and 2 more)" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (command(name="Pay"), "/Pay: command name 'Pay' must be lowercase"),
        (command(name="p" * 33), "must be 1-32 letters, digits"),
        (command(name="has space"), "command name 'has space' must be 1-32"),
        (command(description=""), "/bad: command description is 0 characters, must be 1-100"),
        (command(options=[option(name="Opt")]), "/bad Opt: option name 'Opt' must be lowercase"),
        (command(options=[option(description="d" * 101)]), "/bad value: option description is"),
        (command(options=[option(kind=4, min_value=-(2**53))]), "min_value -9007199254740992"),
        (command(options=[option(kind=10, max_value=1e300)]), "max_value 1e+300 is outside"),
        (command(options=[option(max_length=6001)]), "/bad value: max_length 6001 must be 1-6000"),
        (command(options=[option(min_length=-1)]), "min_length -1 must be 0-6000"),
        (
            command(
                options=[option(choices=[{"name": f"c{i}", "value": f"{i}"} for i in range(26)])]
            ),
            "/bad value: 26 choices, at most 25",
        ),
        (
            command(options=[option(choices=[{"name": "n" * 101, "value": "v"}])]),
            "choice name 'nnnn",
        ),
        (
            command(options=[option(choices=[{"name": "n", "value": "v" * 101}])]),
            "value must be 1-100",
        ),
        (
            command(options=[option(kind=4, choices=[{"name": "big", "value": 2**63 - 1}])]),
            "choice 'big' value 9223372036854775807 is outside",
        ),
        (
            command(options=[option(name="a"), option(name="a")]),
            "/bad: option name 'a' is used twice",
        ),
        (
            command(options=[option(name="a"), option(name="b", required=True)]),
            "/bad b: a required option must come before optional ones",
        ),
        (
            command(options=[option(name="sub", kind=1), option(name="plain")]),
            "/bad: subcommands cannot sit beside ordinary options",
        ),
        (
            command(
                options=[
                    option(
                        name="group",
                        kind=2,
                        options=[option(name="inner", kind=2, options=[option(kind=1)])],
                    )
                ]
            ),
            "/bad group inner: a subcommand group can only sit directly under a command",
        ),
        (
            command(options=[option(name="sub", kind=1, options=[option(name="deeper", kind=1)])]),
            "/bad sub deeper: a subcommand cannot hold another subcommand",
        ),
        (
            command(
                options=[
                    option(
                        name=f"o{i}",
                        description="d" * 100,
                        choices=[{"name": "c" * 60, "value": "v" * 99}],
                    )
                    for i in range(25)
                ]
            ),
            "/bad: names, descriptions and values add up to 6553 characters, at most 4000",
        ),
    ],
)
def test_each_rule_of_discord_is_checked(payload: dict, expected: str) -> None:
    problems = validate_payloads([payload])
    assert any(expected in p for p in problems), problems


def test_more_than_100_slash_commands_or_a_repeated_name_are_refused() -> None:
    assert validate_payloads([command(name=f"c{i}") for i in range(100)]) == []
    problems = validate_payloads([command(name=f"c{i}") for i in range(101)])
    assert problems == ["101 slash commands: at most 100 per scope"]
    assert validate_payloads([command(), command()]) == ["/bad: the name is used twice"]
    menus = [{"name": f"Menu {i}", "type": 2} for i in range(6)]
    assert validate_payloads(menus) == ["6 user context menus: at most 5 per scope"]


async def test_start_up_syncs_the_real_tree_within_the_limits(
    context: AppContext, standin: DiscordStandIn
) -> None:
    bot = AbbyBot(context)
    await bot.login("stand-in-token")  # setup_hook: cogs, validation, then the sync
    bot.heartbeat.cancel()
    await bot.close()
    [sync] = standin.command_syncs()
    pay = next(c for c in sync.payload if c["name"] == "pay")
    assert next(o for o in pay["options"] if o["name"] == "amount")["max_value"] == 2**53 - 1


def test_start_up_refuses_to_sync_a_tree_discord_would_reject(
    standin: DiscordStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bot_app, "COGS", (*COGS, "tests.bot.oversized_commands"))
    settings = load_settings(
        environ={"ABBY_DATA_DIR": str(tmp_path / "data")},
        overrides={"discord": {"token": "stand-in-token", "api_base_url": standin.base_url}},
    )
    with pytest.raises(ConfigError) as caught:
        run(AppContext(settings))
    message = str(caught.value)
    assert message.startswith("refusing to sync the global command tree"), message
    assert "/pay_all amount: max_value 9223372036854775807" in message
    assert standin.command_syncs() == []  # nothing reached Discord
    assert any(r.path == "/users/@me" for r in standin.requests)  # it did log in first


def test_abby_bot_run_with_a_bad_tree_is_one_line_and_exit_78(
    cli,  # noqa: ANN001
    standin: DiscordStandIn,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(bot_app, "COGS", (*COGS, "tests.bot.oversized_commands"))
    monkeypatch.setenv("ABBY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ABBY_DISCORD__TOKEN", "stand-in-token-do-not-print")
    monkeypatch.setenv("ABBY_DISCORD__API_BASE_URL", standin.base_url)
    result = cli("bot", "run")
    assert result.exit_code == 78, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "/pay_all amount: max_value" in lines[0], result.output
    assert "stand-in-token-do-not-print" not in result.stdout + result.stderr
    assert standin.command_syncs() == []
