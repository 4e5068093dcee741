"""`abby bot settings --guild G`: the roles of the moderation commands, stored in the
database over the config's, on both backends."""

from __future__ import annotations

import pytest


def test_roles_are_shown_set_and_returned_to_the_configs(cli, backend_env, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ABBY_DISCORD__MODERATOR_ROLE_IDS", '{"99": ["11"]}')
    shown = cli("bot", "settings", "--guild", "99", "--json")
    assert shown.exit_code == 0, shown.output
    assert shown.json() == {"guild_id": "99", "admin_role_ids": [], "moderator_role_ids": ["11"]}
    changed = cli("bot", "settings", "admin_role_ids", "21, 22", "--guild", "99", "--json")
    assert changed.exit_code == 0, changed.output
    assert changed.json()["admin_role_ids"] == ["21", "22"]
    moved = cli("bot", "settings", "moderator_role_ids", "12", "--guild", "99", "--json")
    assert moved.json()["moderator_role_ids"] == ["12"]
    again = cli("bot", "settings", "--guild", "99", "--json").json()
    assert again == {"guild_id": "99", "admin_role_ids": ["21", "22"], "moderator_role_ids": ["12"]}
    other = cli("bot", "settings", "--guild", "100", "--json").json()
    assert other["admin_role_ids"] == [] and other["moderator_role_ids"] == []
    back = cli("bot", "settings", "moderator_role_ids", "default", "--guild", "99", "--json")
    assert back.json()["moderator_role_ids"] == ["11"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("admin_role_ids", "12,@everyone"), "not a Discord role id"),
        (("owner_ids", "12"), "unknown bot setting"),
        (("admin_role_ids",), "give a VALUE"),
        (("admin_role_ids", "1"), "Missing option"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(cli, backend_env, args, message) -> None:  # noqa: ANN001
    guild = () if message == "Missing option" else ("--guild", "99")
    result = cli("bot", "settings", *args, *guild)
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.output
    if guild:
        shown = cli("bot", "settings", "--guild", "99", "--json").json()
        assert shown["admin_role_ids"] == []  # nothing stored
