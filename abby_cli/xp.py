"""`abby xp`: XP, levels, leaderboards, per-guild settings and the MEE6 import."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import DryRunOpt, GuildOpt, JsonOpt, LimitOpt, YesOpt

app = typer.Typer(help="XP and levels: show, grant, rank, configure, import.", no_args_is_help=True)

# AMOUNT may be negative (a correction): let "-50" reach the argument instead of being read
# as an unknown option.
_AMOUNT_CMD = {"ignore_unknown_options": True}
_INT = re.compile(r"[+-]?[0-9]{1,30}")
# A leaderboard export of a million players is ~100 MB of JSON.
MEE6_MAX_BYTES = 256 * 1024 * 1024


def parse_amount(text: str, *, positive: bool = False) -> int:
    """The CLI reads amounts itself, so every bad spelling gets the same one-line error."""
    from core.economy._checks import check_amount
    from core.errors import InvalidAmount

    cleaned = text.strip().replace("_", "")
    if not _INT.fullmatch(cleaned):
        raise InvalidAmount(f"amount {text[:40]!r} is not a whole number (digits only, e.g. 250)")
    value = check_amount(int(cleaned))
    if positive and value <= 0:
        raise InvalidAmount(f"amount must be a positive whole number, not {value}")
    return value


@app.command()
def get(user_id: str, guild: GuildOpt = None, json_out: JsonOpt = False) -> None:
    """Show USER_ID's XP, level, rank, XP into the level and XP still needed for the next."""
    output.show(runtime.context().xp.get(user_id, guild_id=guild))


@app.command(context_settings=_AMOUNT_CMD)
def add(
    user_id: str,
    amount: Annotated[str, typer.Argument(help="XP to add; negative to correct (never below 0).")],
    guild: GuildOpt = None,
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Grant (or, negative, remove) XP; reports the level before and after."""
    change = runtime.context().xp.add(user_id, parse_amount(amount), guild_id=guild, reason=reason)
    output.show(change)


@app.command()
def leaderboard(
    guild: GuildOpt = None,
    limit: LimitOpt = 10,
    json_out: JsonOpt = False,
) -> None:
    """Top users by XP (ties broken by user id) with rank and level."""
    context = runtime.context()
    rows = context.xp.leaderboard(guild_id=guild, limit=min(limit, 1_000))
    names = context.users.names([row.user_id for row in rows], guild_id=guild)
    output.show(
        [{**output.to_jsonable(row), "name": names.get(row.user_id)} for row in rows],
        columns=["rank", "user_id", "name", "xp", "level", "xp_into_level", "xp_for_next"],
        empty="No XP recorded in this scope yet.",
    )


@app.command()
def settings(
    key: Annotated[str | None, typer.Argument(help="Setting to change (omit to show all).")] = None,
    value: Annotated[
        str | None,
        typer.Argument(help="New value; lists comma-separated; 'default' removes the override."),
    ] = None,
    guild: GuildOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show or change a guild's XP rules: min_grant, max_grant, cooldown_seconds, curve,
    power_base, power_exponent, ignored_channels, ignored_roles, announce_level_ups."""
    from core.economy.xp import parse_setting
    from core.errors import InvalidInput

    service = runtime.context().xp
    if key is None:
        output.show(service.settings_for(guild))
        return
    if value is None:
        raise InvalidInput(f"give a VALUE for {key} (or 'default' to remove the override)")
    output.show(service.update_settings({key: parse_setting(key, value)}, guild_id=guild))


class ImportMode(StrEnum):
    replace = "replace"
    max = "max"
    add = "add"


@app.command("import-mee6")
def import_mee6(
    file: Annotated[Path, typer.Argument(help='MEE6 leaderboard JSON: {"players": [...]}.')],
    guild: Annotated[str, typer.Option("--guild", "-g", help="Guild to import into.")],
    mode: Annotated[
        ImportMode,
        typer.Option(
            "--mode",
            help="max keeps the higher total (never lowers XP), replace sets the file's"
            " total (may lower), add adds it.",
        ),
    ] = ImportMode.max,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Import XP totals from a MEE6 leaderboard export; usernames become profiles.

    --dry-run reports what would change (and whom replace would lower) and writes nothing.
    Re-importing the same file with max or replace changes nothing.
    """
    import json

    from core.errors import InvalidInput, UnknownFile
    from core.input_files import read_input_file

    try:
        text = read_input_file(file, max_bytes=MEE6_MAX_BYTES, what="MEE6 export").decode()
    except FileNotFoundError:
        raise UnknownFile(f"no such file: {file}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"cannot read {file}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{file} is not JSON (line {exc.lineno}: {exc.msg})") from None
    context = runtime.context()
    if dry_run or not yes or mode is ImportMode.replace:
        # A read of every player: what the question (or the dry run) shows, and whom a
        # replace lowers, which is never silent.
        preview = context.xp.import_mee6(
            data, guild_id=guild, mode=mode.value, dry_run=True, users=context.users
        )
        if preview.lowered:
            output.warn(f"--mode replace lowers the XP of {preview.lowered} member(s)")
        output.confirm(
            f"import {preview.players} players into guild {guild} (mode {mode.value},"
            f" {preview.changed} would change)",
            yes=yes,
            dry_run=dry_run,
        )
    if dry_run:
        output.show(preview, title="Import (dry run): nothing was changed")
        return
    with output.progress("importing", unit="records") as meter:
        report = context.xp.import_mee6(
            data, guild_id=guild, mode=mode.value, progress=meter, users=context.users
        )
    output.show(report)


rewards = typer.Typer(
    help="Level role rewards: the role a member gets on reaching a level.", no_args_is_help=True
)
app.add_typer(rewards, name="rewards")
_RoleArg = Annotated[str, typer.Argument(help="Discord role id (digits).")]
_LevelArg = Annotated[
    int, typer.Argument(help="Level that earns the role (1-10000).", min=1, max=10_000)
]
_GuildReq = Annotated[str, typer.Option("--guild", "-g", help="Guild whose rewards these are.")]


def _show_rewards(rules) -> None:  # noqa: ANN001 - XpGuildSettings
    output.show(
        [
            {"level": level, "role_id": role, "blocked": role in rules.blocked_roles}
            for level, role in rules.level_roles
        ],
        columns=["level", "role_id", "blocked"],
        empty="No level rewards in this guild.",
    )


@rewards.command("list")
def rewards_list(guild: _GuildReq, json_out: JsonOpt = False) -> None:
    """List the guild's rewards; "blocked" means Discord refused to hand the role out (it is
    above the bot's role): move the bot's role up, then add the reward again."""
    _show_rewards(runtime.context().xp.rewards.rewards(guild))


@rewards.command("add")
def rewards_add(
    level: _LevelArg, role_id: _RoleArg, guild: _GuildReq, json_out: JsonOpt = False
) -> None:
    """Give ROLE_ID to members reaching LEVEL (replaces that level's role); members already
    at that level get it from the running bot within seconds."""
    _show_rewards(runtime.context().xp.rewards.add_reward(guild, level, role_id))


@rewards.command("remove")
def rewards_remove(level: _LevelArg, guild: _GuildReq, json_out: JsonOpt = False) -> None:
    """Stop rewarding LEVEL (exit 3 when no reward is set there); roles already given stay."""
    _show_rewards(runtime.context().xp.rewards.remove_reward(guild, level))
