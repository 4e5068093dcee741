"""Profile fields a member or an operator sets: one validation in the core, both backends.

The bot's `/profile set` and `abby user set` both call `UserService.update`; what it refuses
here is refused from both front ends, and nothing is written when it refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.clock import FrozenClock
from core.context import AppContext
from core.errors import InvalidInput
from core.scope import Scope
from core.users import UPDATABLE_FIELDS, UserService


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("Mars/Olympus", "'Mars/Olympus' is not an IANA zone name such as Europe/Paris"),
        ("europe/paris", "did you mean Europe/Paris?"),
        ("../../etc/passwd", "timezone that is not an IANA zone name"),
        ("/etc/localtime", "timezone that is not"),
        ("zone.tab", "not an IANA zone"),  # a file under the zone directory, not a zone
        ("localtime", "not an IANA zone"),  # the server's own zone, not a place
        ("posixrules", "not an IANA zone"),
        ("Europe/Paris\x00", "control characters"),
        ("Europe/Paris\nUTC", "one line"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("A" * 10_000, "timezone is 10000 characters; the limit is 64"),
    ],
)
def test_a_timezone_that_is_not_an_iana_zone_is_refused_and_nothing_is_written(
    context: AppContext, value: str, needle: str
) -> None:
    with pytest.raises(InvalidInput, match=needle.replace("?", r"\?")) as caught:
        context.users.update("41", {"timezone": value}, guild_id="g1", create=True)
    assert "\n" not in str(caught.value)
    assert context.users.get("41", guild_id="g1") is None  # not even created


def test_a_5000_character_bio_is_refused_with_the_limit(context: AppContext) -> None:
    limit = UPDATABLE_FIELDS["bio"]
    with pytest.raises(InvalidInput, match=f"bio is 5000 characters; the limit is {limit}"):
        context.users.update("42", {"bio": "b" * 5000}, guild_id="g1", create=True)
    assert context.users.get("42", guild_id="g1") is None


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("pronouns", "p" * 41, "pronouns is 41 characters; the limit is 40"),
        ("pronouns", "she/\nher", "one line"),
        ("bio", "hello\x1b[31m red", "control characters"),
        ("bio", "hi\x7f", "control characters"),
        ("bio", "hi\x85there", "control characters"),  # a C1 control (NEXT LINE)
        ("bio", "admin\u202eresu", "control characters"),  # a right-to-left override
    ],
)
def test_control_characters_and_over_long_fields_are_refused(
    context: AppContext, field: str, value: str, needle: str
) -> None:
    context.users.upsert("43", "kim", guild_id="g1")
    with pytest.raises(InvalidInput, match=needle):
        context.users.update("43", {field: value}, guild_id="g1")
    profile = context.users.get("43", guild_id="g1")
    assert (profile.bio, profile.pronouns) == (None, None)


def test_a_bio_keeps_its_lines_emoji_and_joiners(context: AppContext) -> None:
    bio = "first line\r\nsecond line 👩\u200d💻 \tend"
    profile = context.users.update("44", {"bio": bio}, guild_id="g1", create=True)
    assert profile.bio == "first line\nsecond line 👩\u200d💻 \tend"


def test_setting_a_field_creates_a_missing_profile_under_the_given_name(
    context: AppContext,
) -> None:
    profile = context.users.update(
        "45", {"timezone": "Europe/Paris"}, guild_id="g1", create=True, name="kim"
    )
    assert (profile.username, profile.timezone) == ("kim", "Europe/Paris")
    assert context.users.get("45") is None  # only in that guild's scope


def test_create_keeps_a_profile_that_exists_already(context: AppContext) -> None:
    context.users.upsert("46", "real-name", guild_id="g1")
    context.users.update("46", {"bio": "old"}, guild_id="g1")
    profile = context.users.update(
        "46", {"pronouns": "they/them"}, guild_id="g1", create=True, name="other"
    )
    assert (profile.username, profile.bio, profile.pronouns) == ("real-name", "old", "they/them")


def test_the_repository_creates_a_profile_once(context: AppContext) -> None:
    repo = context.users._repo
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert repo.create("47", Scope.of("g1"), "first", now) is True
    assert repo.create("47", Scope.of("g1"), "second", now) is False
    assert repo.get("47", Scope.of("g1")).username == "first"


def test_local_time_is_the_clock_in_the_members_zone(context: AppContext) -> None:
    clock = FrozenClock(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    users = UserService(repo=context.users._repo, clock=clock)
    paris = users.update("48", {"timezone": "Europe/Paris"}, guild_id="g1", create=True)
    local = users.local_time(paris)
    assert (local.hour, local.utcoffset().total_seconds()) == (14, 7200)  # summer time
    assert users.local_time(users.update("48", {"timezone": None}, guild_id="g1")) is None


_CREATE_RACE = """
from datetime import UTC, datetime
from core.context import open_context
from core.scope import Scope
repo = open_context().users._repo
now = datetime(2026, 3, 1, tzinfo=UTC)
print(sum(repo.create(str(n), Scope.of("g1"), "p{who}", now) for n in range(100, 300)))
"""


@pytest.mark.slow
def test_two_processes_creating_the_same_profiles_create_each_once(backend) -> None:  # noqa: ANN001
    """What /profile set and `abby user set` do when a profile is missing, raced."""
    from tests.core.security_support import spawn_python

    context = AppContext(backend.settings())
    context.users.upsert("1", "first")  # the store and its schema exist before the race
    context.close()
    racers = [spawn_python(_CREATE_RACE.format(who=who), backend.env) for who in (1, 2)]
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert all(r.returncode == 0 for r in racers), [err for _, err in outputs]
    assert sum(int(out) for out, _ in outputs) == 200
    context = AppContext(backend.settings())
    try:
        assert context.users.count() == 201
        names = {context.users.get(str(n), guild_id="g1").username for n in range(100, 300)}
        assert names <= {"p1", "p2"}
    finally:
        context.close()
