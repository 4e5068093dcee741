"""The MEE6 import's modes on both backends: max never lowers, replace says whom it lowers,
add adds (capped), and the file's usernames become profiles."""

from __future__ import annotations

import pytest

from core.context import AppContext
from core.economy.levels import MAX_INT64
from core.errors import InvalidInput


def export(*players: tuple[str, int, str | None]) -> dict:
    return {
        "players": [
            {"id": uid, "xp": xp, **({"username": name} if name else {})}
            for uid, xp, name in players
        ]
    }


def test_a_reimport_in_max_mode_keeps_xp_granted_since(context: AppContext) -> None:
    data = export(("1", 500, "ann"), ("2", 200, None))
    first = context.xp.import_mee6(data, guild_id="g")
    assert (first.mode, first.changed, first.lowered) == ("max", 2, 0)
    context.xp.add("1", 1000, guild_id="g")  # earned after the import
    again = context.xp.import_mee6(data, guild_id="g")
    assert (again.changed, again.unchanged) == (0, 2)
    assert context.xp.get("1", guild_id="g").xp == 1500


def test_replace_mode_reports_whom_it_lowers_and_sets_the_file_total(
    context: AppContext,
) -> None:
    context.xp.add("1", 1500, guild_id="g")
    data = export(("1", 500, None), ("2", 200, None))
    preview = context.xp.import_mee6(data, guild_id="g", mode="replace", dry_run=True)
    assert (preview.changed, preview.lowered, preview.dry_run) == (2, 1, True)
    assert context.xp.get("1", guild_id="g").xp == 1500  # a dry run writes nothing
    report = context.xp.import_mee6(data, guild_id="g", mode="replace")
    assert (report.changed, report.lowered) == (2, 1)
    assert context.xp.get("1", guild_id="g").xp == 500


def test_add_mode_adds_to_what_members_have_and_never_passes_the_cap(
    context: AppContext,
) -> None:
    context.xp.add("1", 100, guild_id="g")
    context.xp.add("big", MAX_INT64 - 5, guild_id="g")
    data = export(("1", 50, None), ("2", 0, None), ("3", 70, None), ("big", 10, None))
    report = context.xp.import_mee6(data, guild_id="g", mode="add")
    assert report.changed == 4, report
    xp = {uid: context.xp.get(uid, guild_id="g").xp for uid in ("1", "2", "3", "big")}
    assert xp == {"1": 150, "2": 0, "3": 70, "big": MAX_INT64}


def test_usernames_in_the_file_become_profiles_in_the_guild(context: AppContext) -> None:
    data = export(("1", 10, "ann"), ("2", 20, None), ("3", 30, "\x00bad"))
    preview = context.xp.import_mee6(data, guild_id="g", dry_run=True, users=context.users)
    assert preview.profiles_created == 1 and context.users.get("1", guild_id="g") is None
    report = context.xp.import_mee6(data, guild_id="g", users=context.users)
    assert report.profiles_created == 1
    assert context.users.require("1", guild_id="g").username == "ann"
    assert context.users.get("2", guild_id="g") is None  # no name in the file: no profile
    assert context.users.get("3", guild_id="g") is None  # a control character: skipped
    assert context.users.get("1") is None  # the guild's profile, not a global one


def test_an_unknown_mode_is_refused_before_anything_is_written(context: AppContext) -> None:
    with pytest.raises(InvalidInput, match="mode must be one of replace, max, add"):
        context.xp.import_mee6(export(("1", 10, None)), guild_id="g", mode="sum")
    assert context.xp.leaderboard(guild_id="g") == []
