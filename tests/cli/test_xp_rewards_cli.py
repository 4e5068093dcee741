"""`abby xp rewards` and the reward settings of `abby xp settings`, on both backends."""

from __future__ import annotations

import pytest

from core.config import load_settings
from core.context import AppContext
from tests.conftest import Cli

G = "700000000000000001"


def _pending(guild: str) -> list[str]:
    context = AppContext(load_settings())
    try:
        return [p.user_id for p in context.xp.rewards.pending([guild])]
    finally:
        context.close()


def test_rewards_add_list_remove_round_trip(cli, backend_env) -> None:  # noqa: ANN001
    added = cli("xp", "rewards", "add", "5", "710000000000000005", "-g", G, "--json")
    assert added.exit_code == 0, added.output
    cli("xp", "rewards", "add", "10", "710000000000000010", "-g", G)
    listed = cli("xp", "rewards", "list", "-g", G, "--json").json()
    assert [(r["level"], r["role_id"], r["blocked"]) for r in listed] == [
        (5, "710000000000000005", False),
        (10, "710000000000000010", False),
    ]
    removed = cli("xp", "rewards", "remove", "5", "-g", G, "--json")
    assert [r["level"] for r in removed.json()] == [10], removed.output
    again = cli("xp", "rewards", "remove", "5", "-g", G)
    assert again.exit_code == 3 and "no reward is set for level 5" in again.stderr, again.output


def test_adding_a_reward_marks_members_already_past_it(cli, backend_env) -> None:  # noqa: ANN001
    cli("xp", "add", "1", "5000", "-g", G)  # level 10
    cli("xp", "add", "2", "10", "-g", G)  # level 0
    context = AppContext(load_settings())
    try:
        for item in context.xp.rewards.pending([G]):
            context.xp.rewards.done(item)
    finally:
        context.close()
    assert cli("xp", "rewards", "add", "5", "710000000000000005", "-g", G).exit_code == 0
    assert _pending(G) == ["1"]


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["rewards", "add", "5", "@everyone", "-g", G], 2, "role id"),
        (["rewards", "add", "0", "710000000000000005", "-g", G], 2, ""),
        (["rewards", "add", "5", "710000000000000005"], 2, "--guild"),
        (["settings", "announce_template", "{member} is {lvl}", "-g", G], 2, "{lvl}"),
        (["settings", "announce_template", "x" * 400, "-g", G], 2, "at most 300"),
        (["settings", "announce_channel", "#general", "-g", G], 2, "channel id"),
        (["settings", "voice_xp_per_minute", "2000000", "-g", G], 2, "voice_xp_per_minute"),
        (["settings", "level_roles", "5", "-g", G], 2, "xp rewards"),
    ],
)
def test_bad_reward_input_is_one_line_and_changes_nothing(
    cli: Cli,
    backend_env: dict[str, str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    result = cli("xp", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr, result.output
    shown = cli("xp", "settings", "-g", G, "--json").json()
    assert shown["level_roles"] == [] and shown["announce_channel"] is None, shown


def test_announcement_settings_are_set_and_reset(cli, backend_env) -> None:  # noqa: ANN001
    cli("xp", "settings", "announce_channel", "810000000000000003", "-g", G)
    cli("xp", "settings", "announce_template", "GG {member}, level {level}!", "-g", G)
    cli("xp", "settings", "remove_lower_roles", "on", "-g", G)
    shown = cli("xp", "settings", "-g", G, "--json").json()
    assert shown["announce_channel"] == "810000000000000003"
    assert shown["announce_template"] == "GG {member}, level {level}!"
    assert shown["remove_lower_roles"] is True
    cli("xp", "settings", "announce_channel", "none", "-g", G)
    assert cli("xp", "settings", "-g", G, "--json").json()["announce_channel"] is None
