"""The users contract: every behaviour holds on SQLite and on MongoDB."""

from __future__ import annotations

import pytest

from core import database as seed_db
from core.context import AppContext
from core.errors import InvalidInput, UnknownUser


def test_upsert_then_get_returns_the_profile_in_that_scope(context: AppContext) -> None:
    context.users.upsert("100", "ada", "0001", guild_id="g1")
    profile = context.users.get("100", guild_id="g1")
    assert profile is not None
    assert (profile.user_id, profile.guild_id, profile.username) == ("100", "g1", "ada")
    assert profile.created_at.tzinfo is not None


def test_global_scope_never_matches_a_guild_record(context: AppContext) -> None:
    context.users.upsert("100", "in-guild", guild_id="g1")
    assert context.users.get("100") is None
    context.users.upsert("100", "global")
    assert context.users.get("100").username == "global"
    assert context.users.get("100", guild_id="g1").username == "in-guild"
    assert context.users.get("100", guild_id="g2") is None


def test_upsert_twice_refreshes_name_and_keeps_created_at(context: AppContext) -> None:
    context.users.upsert("7", "old")
    first = context.users.get("7")
    context.users.upsert("7", "new")
    second = context.users.get("7")
    assert second.username == "new"
    assert second.created_at == first.created_at
    assert context.users.count() == 1


def test_update_whitelisted_fields_and_refuse_others(context: AppContext) -> None:
    context.users.upsert("5", "bo", guild_id="g")
    updated = context.users.update("5", {"bio": "hello", "timezone": "Europe/Paris"}, guild_id="g")
    assert (updated.bio, updated.timezone) == ("hello", "Europe/Paris")
    with pytest.raises(InvalidInput, match="xp"):
        context.users.update("5", {"xp": 10**6}, guild_id="g")
    with pytest.raises(InvalidInput, match="timezone"):
        context.users.update("5", {"timezone": "Mars/Base"}, guild_id="g")
    assert context.users.get("5", guild_id="g").bio == "hello"


def test_update_of_a_missing_user_is_unknown_user(context: AppContext) -> None:
    with pytest.raises(UnknownUser):
        context.users.update("404", {"bio": "x"})


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "../etc", None, 1.5])
def test_bad_user_ids_are_refused(context: AppContext, bad: object) -> None:
    with pytest.raises(InvalidInput):
        context.users.upsert(bad, "name")  # type: ignore[arg-type]


def test_seed_functions_use_the_current_context(context: AppContext) -> None:
    seed_db.upsert_user("42", "zed", "9999", "g9")
    assert seed_db.get_user_profile("42", "g9")["username"] == "zed"
    assert seed_db.get_user_profile("42") is None
    assert seed_db.update_user_profile("42", {"pronouns": "they/them"}, "g9") is True
    assert seed_db.update_user_profile("43", {"pronouns": "she/her"}, "g9") is False
    with pytest.raises(ValueError):
        seed_db.update_user_profile("42", {"user_id": "1"}, "g9")


def test_get_collection_matches_the_backend(context: AppContext) -> None:
    from core.errors import ConfigError

    if context.settings.database.backend == "sqlite":
        with pytest.raises(ConfigError, match="embedded SQLite"):
            seed_db.get_collection("users")
    else:
        context.users.upsert("1", "m")
        assert seed_db.get_collection("users").count_documents({"user_id": "1"}) == 1
        assert seed_db.connect_to_mongodb().admin.command("ping")["ok"] == 1


def test_an_unchanged_refresh_rewrites_nothing_and_a_rename_does(context: AppContext) -> None:
    """The bot refreshes the author's profile on every message (issue #11)."""
    context.users.upsert("8", "same", "0", guild_id="g")
    first = context.users.get("8", guild_id="g")
    context.users.upsert("8", "same", "0", guild_id="g")
    assert context.users.get("8", guild_id="g").updated_at == first.updated_at
    context.users.upsert("8", "$username", "0", guild_id="g")  # text, never a field path
    renamed = context.users.get("8", guild_id="g")
    assert renamed.username == "$username" and renamed.updated_at > first.updated_at
    assert renamed.created_at == first.created_at
