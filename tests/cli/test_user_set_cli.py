"""`abby user set`: creates a missing profile and refuses what the bot refuses (one core rule)."""

from __future__ import annotations

import pytest

from core.context import AppContext
from tests.conftest import Cli


def test_user_set_on_a_new_id_creates_the_profile(
    cli: Cli, backend_env: dict[str, str], context: AppContext
) -> None:
    result = cli("user", "set", "9001", "timezone", "Asia/Tokyo", "-g", "g1", "--json")
    assert result.exit_code == 0, result.output
    assert (result.json()["user_id"], result.json()["timezone"]) == ("9001", "Asia/Tokyo")
    profile = context.users.get("9001", guild_id="g1")
    assert (profile.username, profile.timezone) == ("9001", "Asia/Tokyo")


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("timezone", "Mars/Olympus", "such as Europe/Paris"),
        ("timezone", "../../etc/passwd", "not an IANA zone name"),
        ("bio", "b" * 5000, "the limit is 1000"),
        ("pronouns", "she\x1b[2Jher", "control characters"),
    ],
    ids=["unknown-zone", "path-like-zone", "5000-character-bio", "escape-sequence"],
)
def test_user_set_refuses_bad_values_in_one_line_and_creates_nothing(
    cli: Cli, backend_env: dict[str, str], context: AppContext, field: str, value: str, needle: str
) -> None:
    result = cli("user", "set", "9002", field, value, "-g", "g1")
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert context.users.get("9002", guild_id="g1") is None
