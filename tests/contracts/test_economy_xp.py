"""The XP contract: every behaviour holds on SQLite and on MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import economy
from core.context import AppContext
from core.economy.levels import MAX_INT64
from core.errors import InvalidInput


def test_a_user_without_a_record_reads_as_zero_and_nothing_is_created(context: AppContext) -> None:
    status = context.xp.get("404", guild_id="g1")
    assert (status.xp, status.level, status.rank) == (0, 0, None)
    assert context.xp.level("404", guild_id="g1") == 0
    assert context.xp.leaderboard(guild_id="g1") == []


def test_add_returns_new_total_levels_and_level_up(context: AppContext) -> None:
    first = context.xp.add("1", 99, guild_id="g", reason="welcome")
    assert (first.xp, first.level, first.previous_level, first.leveled_up) == (99, 0, 0, False)
    second = context.xp.add("1", 1, guild_id="g")
    assert (second.xp, second.previous_xp, second.level, second.leveled_up) == (100, 99, 1, True)
    assert context.xp.add("1", 4_575, guild_id="g").level == 10


def test_negative_grants_correct_but_never_go_below_zero(context: AppContext) -> None:
    context.xp.add("1", 300, guild_id="g")
    change = context.xp.add("1", -1_000, guild_id="g", reason="correction")
    assert (change.previous_xp, change.xp, change.level, change.leveled_up) == (300, 0, 0, False)
    assert context.xp.get("1", guild_id="g").xp == 0


def test_xp_is_capped_at_int64_and_never_wraps(context: AppContext) -> None:
    context.xp.add("1", MAX_INT64, guild_id="g")
    assert context.xp.add("1", 5, guild_id="g").xp == MAX_INT64
    assert context.xp.grant_message("1", guild_id="g", now=1.0).xp == MAX_INT64


@pytest.mark.parametrize("bad", [1.5, True, "10", None])
def test_non_integer_amounts_raise_type_error(context: AppContext, bad: object) -> None:
    with pytest.raises(TypeError):
        context.xp.add("1", bad, guild_id="g")  # type: ignore[arg-type]
    assert context.xp.get("1", guild_id="g").rank is None


def test_amounts_beyond_int64_raise_value_error(context: AppContext) -> None:
    with pytest.raises(ValueError):
        context.xp.add("1", 2**63, guild_id="g")


def test_global_scope_and_guilds_never_share_xp(context: AppContext) -> None:
    context.xp.add("1", 500)
    context.xp.add("1", 50, guild_id="g1")
    assert context.xp.get("1").xp == 500
    assert context.xp.get("1", guild_id="g1").xp == 50
    assert context.xp.get("1", guild_id="g2").xp == 0
    assert [row.user_id for row in context.xp.leaderboard()] == ["1"]


def test_message_xp_pays_once_per_cooldown(context: AppContext) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    first = context.xp.grant_message("7", guild_id="g", now=start)
    assert first is not None and 15 <= first.xp <= 25
    assert context.xp.grant_message("7", guild_id="g", now=start + 59.9) is None
    assert context.xp.get("7", guild_id="g").xp == first.xp
    again = context.xp.grant_message("7", guild_id="g", now=start + 60)
    assert again is not None and again.previous_xp == first.xp
    # Cooldowns are per (user, guild).
    assert context.xp.grant_message("7", guild_id="other", now=start + 60) is not None
    assert context.xp.grant_message("8", guild_id="g", now=start + 60) is not None


def test_message_xp_after_a_manual_grant_is_not_on_cooldown(context: AppContext) -> None:
    context.xp.add("7", 10, guild_id="g")
    assert context.xp.grant_message("7", guild_id="g", now=100.0) is not None


def test_leaderboard_orders_by_xp_then_user_id_with_ranks(context: AppContext) -> None:
    for user, xp in [("b", 200), ("a", 200), ("c", 5_000), ("d", 50)]:
        context.xp.add(user, xp, guild_id="g")
    rows = context.xp.leaderboard(guild_id="g", limit=3)
    assert [(r.rank, r.user_id, r.xp) for r in rows] == [
        (1, "c", 5000),
        (2, "a", 200),
        (3, "b", 200),
    ]
    assert rows[0].level == 10 and rows[1].level == 1 and rows[1].xp_into_level == 100
    assert [context.xp.get(u, guild_id="g").rank for u in "abcd"] == [2, 3, 1, 4]
    assert [r.user_id for r in context.xp.leaderboard(guild_id="g", limit=2, offset=2)] == [
        "b",
        "d",
    ]


def test_settings_default_from_config_and_override_per_guild(context: AppContext) -> None:
    defaults = context.xp.settings_for("g")
    assert (defaults.min_grant, defaults.max_grant, defaults.cooldown_seconds) == (15, 25, 60)
    updated = context.xp.update_settings(
        {"min_grant": 5, "max_grant": 5, "curve": "power", "ignored_channels": ["c1"]},
        guild_id="g",
    )
    assert (updated.min_grant, updated.curve, updated.ignored_channels) == (5, "power", ("c1",))
    assert context.xp.settings_for("other").curve == "mee6"
    assert context.xp.grant_message("1", guild_id="g", now=1.0).amount == 5
    # Power curve, base 100, exponent 2: level 1 at 100 XP, level 2 at 400.
    assert context.xp.add("1", 395, guild_id="g").level == 2
    assert context.xp.update_settings({"curve": None}, guild_id="g").curve == "mee6"


def test_invalid_settings_are_refused_and_change_nothing(context: AppContext) -> None:
    with pytest.raises(InvalidInput, match="min_grant"):
        context.xp.update_settings({"min_grant": 30}, guild_id="g")
    with pytest.raises(InvalidInput, match="unknown"):
        context.xp.update_settings({"colour": "red"}, guild_id="g")
    assert context.xp.settings_for("g").min_grant == 15


def test_mee6_import_sets_xp_and_is_idempotent(context: AppContext) -> None:
    data = {"players": [{"id": "1", "xp": 4675, "level": 10}, {"id": "2", "xp": 100, "level": 1}]}
    first = context.xp.import_mee6(data, guild_id="g")
    assert (first.players, first.changed, first.unchanged) == (2, 2, 0)
    assert context.xp.get("1", guild_id="g").level == 10
    second = context.xp.import_mee6(data, guild_id="g")
    assert (second.changed, second.unchanged) == (0, 2)
    data["players"][1]["xp"] = 255
    assert context.xp.import_mee6(data, guild_id="g").changed == 1
    assert context.xp.get("2", guild_id="g").level == 2


@pytest.mark.parametrize(
    "data",
    [[], {"players": {}}, {"players": [{"id": "1"}]}, {"players": [{"id": "1", "xp": -3}]},
     {"players": [{"id": "a b", "xp": 3}]}, {"players": [{"id": "1", "xp": 2.5}]}],
)  # fmt: skip
def test_malformed_mee6_files_are_refused_whole(context: AppContext, data: object) -> None:
    with pytest.raises(InvalidInput):
        context.xp.import_mee6(data, guild_id="g")
    assert context.xp.leaderboard(guild_id="g") == []


def test_seed_functions_use_the_current_context(context: AppContext) -> None:
    assert economy.get_xp("1", "g")["xp"] == 0
    change = economy.add_xp("1", 255, "g", "migration")
    assert (change["xp"], change["level"], change["leveled_up"]) == (255, 2, True)
    assert economy.get_level("1", "g") == 2
    assert economy.get_level("1") == 0
    assert economy.get_leaderboard("g", 5)[0]["user_id"] == "1"
    granted = economy.grant_message_xp("2", "g", now=10.0)
    assert granted is not None and economy.grant_message_xp("2", "g", now=20.0) is None
    assert economy.get_xp("1", "g")["rank"] == 1
