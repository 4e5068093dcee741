"""`abby xp`: XP, levels, leaderboards, per-guild settings and the MEE6 import."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from abby_cli import output, runtime
from abby_cli.options import (
    DryRunOpt,
    GuildOpt,
    JsonOpt,
    LimitOpt,
    YesOpt,
    parse_amount,
    read_json_file,
    require_value,
)

if TYPE_CHECKING:
    from core.context import AppContext
    from core.economy.xp import ImportReport

app = typer.Typer(help="XP and levels: show, grant, rank, configure, import.", no_args_is_help=True)

# AMOUNT may be negative (a correction): let "-50" reach the argument instead of being read
# as an unknown option.
_AMOUNT_CMD = {"ignore_unknown_options": True}
# A leaderboard export of a million players is ~100 MB of JSON.
MEE6_MAX_BYTES = 256 * 1024 * 1024


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
    output.show(
        runtime.context().xp.add(user_id, parse_amount(amount), guild_id=guild, reason=reason)
    )


@app.command()
def leaderboard(
    guild: GuildOpt = None,
    limit: LimitOpt = 10,
    json_out: JsonOpt = False,
) -> None:
    """Top users by XP (ties broken by user id) with rank and level."""
    from abby_cli import render

    context = runtime.context()
    rows = context.xp.leaderboard(guild_id=guild, limit=min(limit, 1_000))
    names = context.users.names([row.user_id for row in rows], guild_id=guild)
    output.show(render.XpRanking(rows, names))


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

    require_value(key, value, unset="remove the override")
    service = runtime.context().xp
    if key is None or value is None:
        output.show(service.settings_for(guild))
    else:
        output.show(service.update_settings({key: parse_setting(key, value)}, guild_id=guild))


class ImportMode(Enum):
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
    data = read_json_file(file, max_bytes=MEE6_MAX_BYTES, what="MEE6 export")
    context = runtime.context()
    report = _preview(context, data, guild, mode, yes=yes, dry_run=dry_run)
    if not dry_run:
        report = _import(context, data, guild, mode)
    output.show(report)


def _preview(
    context: AppContext, data: object, guild: str, mode: ImportMode, *, yes: bool, dry_run: bool
) -> ImportReport | None:
    """Ask before importing (or, dry run, report): whom a replace lowers is never silent."""
    if not (dry_run or not yes or mode is ImportMode.replace):
        return None
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
    return preview


def _import(context: AppContext, data: object, guild: str, mode: ImportMode) -> ImportReport:
    with output.progress("importing", unit="records") as meter:
        return context.xp.import_mee6(
            data, guild_id=guild, mode=mode.value, progress=meter, users=context.users
        )


rewards = typer.Typer(
    help="Level role rewards: the role a member gets on reaching a level.", no_args_is_help=True
)
app.add_typer(rewards, name="rewards")
_RoleArg = Annotated[str, typer.Argument(help="Discord role id (digits).")]
_LevelArg = Annotated[
    int, typer.Argument(help="Level that earns the role (1-10000).", min=1, max=10_000)
]
_GuildReq = Annotated[str, typer.Option("--guild", "-g", help="Guild whose rewards these are.")]


@rewards.command("list")
def rewards_list(guild: _GuildReq, json_out: JsonOpt = False) -> None:
    """List the guild's rewards; "blocked" means Discord refused to hand the role out (it is
    above the bot's role): move the bot's role up, then add the reward again."""
    from abby_cli import render

    output.show(render.Rewards(runtime.context().xp.rewards.rewards(guild)))


@rewards.command("add")
def rewards_add(
    level: _LevelArg, role_id: _RoleArg, guild: _GuildReq, json_out: JsonOpt = False
) -> None:
    """Give ROLE_ID to members reaching LEVEL (replaces that level's role); members already
    at that level get it from the running bot within seconds."""
    from abby_cli import render

    output.show(render.Rewards(runtime.context().xp.rewards.add_reward(guild, level, role_id)))


@rewards.command("remove")
def rewards_remove(level: _LevelArg, guild: _GuildReq, json_out: JsonOpt = False) -> None:
    """Stop rewarding LEVEL (exit 3 when no reward is set there); roles already given stay."""
    from abby_cli import render

    output.show(render.Rewards(runtime.context().xp.rewards.remove_reward(guild, level)))
