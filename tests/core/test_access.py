"""The permission model's decisions, on plain values (no Discord, no database)."""

from __future__ import annotations

import pytest

from core.errors import ExitCode, NotPermitted
from core.moderation import Actor, GuildAccess, Level, level_of, require

ACCESS = GuildAccess("99", admin_role_ids=("1",), moderator_role_ids=("2",))


@pytest.mark.parametrize(
    ("roles", "manage_guild", "expected"),
    [
        ((), False, Level.MEMBER),
        (("3",), False, Level.MEMBER),
        (("2",), False, Level.MODERATOR),
        (("1",), False, Level.ADMIN),
        (("2", "1"), False, Level.ADMIN),
        ((), True, Level.ADMIN),
    ],
)
def test_a_members_level_comes_from_roles_and_manage_server(
    roles: tuple[str, ...], manage_guild: bool, expected: Level
) -> None:
    assert level_of(ACCESS, role_ids=roles, manage_guild=manage_guild) is expected


def test_a_moderator_is_refused_an_admin_command_with_exit_4() -> None:
    moderator = Actor("5", "99", role_ids=("2",))
    assert require(Level.MODERATOR, ACCESS, moderator) is Level.MODERATOR
    with pytest.raises(NotPermitted, match="server admins") as caught:
        require(Level.ADMIN, ACCESS, moderator)
    assert caught.value.exit_code == ExitCode.REFUSED


def test_a_member_is_refused_a_moderator_command() -> None:
    with pytest.raises(NotPermitted, match="moderators"):
        require(Level.MODERATOR, ACCESS, Actor("5", "99", role_ids=("3",)))


def test_nobody_administers_from_a_direct_message() -> None:
    """Manage Server means nothing without a guild: a DM has no server to manage."""
    with pytest.raises(NotPermitted, match="inside a server"):
        require(Level.MODERATOR, None, Actor("5", None, manage_guild=True))


def test_a_role_of_another_guild_grants_nothing() -> None:
    other = GuildAccess("100", admin_role_ids=("7",))
    assert level_of(other, role_ids=("1", "2"), manage_guild=False) is Level.MEMBER
