"""The moderation service on both backends: roles from config and the database, refusals
that change nothing, and every grant and mint recorded with the moderator's id."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.context import AppContext
from core.errors import InvalidInput, NotPermitted, RecipientIsBot
from core.moderation import Actor, Level
from core.moderation.service import parse_setting

GUILD = "99"
ADMIN = Actor("10", GUILD, role_ids=("1",))
MODERATOR = Actor("20", GUILD, role_ids=("2",))
MEMBER = Actor("30", GUILD, role_ids=("3",))
OWNER = Actor("40", GUILD, manage_guild=True)


@pytest.fixture
def settings(backend) -> Settings:  # noqa: ANN001 - the conftest Backend
    return backend.settings(
        discord={"admin_role_ids": {GUILD: ["1"]}, "moderator_role_ids": {GUILD: ["2"]}}
    )


def _events(context: AppContext, kind: str) -> list[dict]:
    return [e["payload"] for e in context.events.tail(50, event_type=f"governance.{kind}")]


def test_roles_come_from_config_until_a_guild_stores_its_own(context: AppContext) -> None:
    moderation = context.moderation
    assert moderation.access(GUILD).admin_role_ids == ("1",)
    moderation.update_access({"admin_role_ids": ["5", "6"]}, guild_id=GUILD)
    assert moderation.access(GUILD).admin_role_ids == ("5", "6")
    assert moderation.access(GUILD).moderator_role_ids == ("2",)  # untouched: config's
    with pytest.raises(NotPermitted):
        moderation.require(ADMIN, Level.ADMIN)  # role 1 is no longer admin
    moderation.update_access({"admin_role_ids": None}, guild_id=GUILD)
    assert moderation.access(GUILD).admin_role_ids == ("1",)


def test_stored_roles_survive_a_restart(context: AppContext, settings: Settings) -> None:
    context.moderation.update_access({"moderator_role_ids": ["8"]}, guild_id=GUILD)
    reopened = AppContext(settings)
    try:
        assert reopened.moderation.access(GUILD).moderator_role_ids == ("8",)
    finally:
        reopened.close()


def test_a_member_without_the_role_changes_no_xp(context: AppContext) -> None:
    with pytest.raises(NotPermitted):
        context.moderation.grant_xp(MEMBER, "7", 500, reason="because")
    assert context.xp.get("7", guild_id=GUILD).xp == 0
    assert _events(context, "xp_add") == []


def test_a_moderators_grant_records_who_and_why(context: AppContext) -> None:
    change = context.moderation.grant_xp(MODERATOR, "7", 500, reason="event winner")
    assert change.xp == 500
    removed = context.moderation.grant_xp(MODERATOR, "7", -200, reason="spam")
    assert removed.xp == 300
    events = _events(context, "xp_add")
    assert [(e["actor_id"], e["amount"], e["reason"]) for e in events] == [
        ("20", 500, "event winner"),
        ("20", -200, "spam"),
    ]
    assert all(e["guild_id"] == GUILD and e["user_id"] == "7" for e in events)


def test_only_admins_mint_and_the_ledger_keeps_the_reason(context: AppContext) -> None:
    with pytest.raises(NotPermitted, match="admins"):
        context.moderation.adjust_balance(MODERATOR, "7", 100, reason="prize")
    assert context.bank.balance("7", guild_id=GUILD).balance == 0
    context.moderation.adjust_balance(ADMIN, "7", 100, reason="prize")
    context.moderation.adjust_balance(OWNER, "7", -30, reason="fine")
    assert context.bank.balance("7", guild_id=GUILD).balance == 70
    assert [(e.amount, e.reason) for e in context.bank.history("7", guild_id=GUILD)] == [
        (-30, "fine"),
        (100, "prize"),
    ]
    minted, burned = _events(context, "bank_mint"), _events(context, "bank_burn")
    assert [e["actor_id"] for e in minted] == ["10"] and [e["actor_id"] for e in burned] == ["40"]


def test_a_mint_without_a_reason_is_refused(context: AppContext) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        context.moderation.adjust_balance(ADMIN, "7", 100, reason="  ")
    assert context.bank.balance("7", guild_id=GUILD).balance == 0


def test_xp_settings_are_for_admins(context: AppContext) -> None:
    with pytest.raises(NotPermitted):
        context.moderation.xp_settings(MODERATOR, {"cooldown_seconds": 5})
    assert context.xp.settings_for(GUILD).cooldown_seconds == 60
    rules = context.moderation.xp_settings(
        ADMIN, {"cooldown_seconds": 5, "ignored_channels": ["44"]}
    )
    assert rules.cooldown_seconds == 5 and rules.ignored_channels == ("44",)
    assert context.xp.settings_for(GUILD).cooldown_seconds == 5
    assert _events(context, "xp_settings_by")[-1]["actor_id"] == "10"


def test_status_counts_records_and_is_for_moderators(context: AppContext) -> None:
    context.xp.add("7", 5, guild_id=GUILD)
    with pytest.raises(NotPermitted):
        context.moderation.status(MEMBER, uptime_seconds=3, latency=0.05)
    context.events.emit("heartbeat", {"uptime_seconds": 1})
    status = context.moderation.status(MODERATOR, uptime_seconds=3, latency=float("nan"))
    assert status.backend == context.database.backend
    assert status.latency_ms is None  # before the gateway answered: no NaN shown
    assert status.last_heartbeat is not None
    # SQLite numbers its migrations (moderation_0002_utc_stamps is the latest), MongoDB its
    # schema version.
    assert status.schema.get("moderation") == (2 if context.database.backend == "sqlite" else 1)
    assert status.counts["xp"] == 1


@pytest.mark.parametrize(
    ("key", "text", "error"),
    [
        ("admin_role_ids", "12,abc", "not a Discord role id"),
        ("owner_ids", "12", "unknown bot setting"),
        ("moderator_role_ids", "1" * 21, "not a Discord role id"),
    ],
)
def test_bad_role_settings_are_refused(key: str, text: str, error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        parse_setting(key, text)


def test_an_admin_mint_to_a_bot_is_refused_but_a_burn_cleans_up_its_balance(
    context: AppContext,
) -> None:
    with pytest.raises(RecipientIsBot, match="bots cannot hold currency"):
        context.moderation.adjust_balance(ADMIN, "99", 100, reason="prize", is_bot=True)
    assert context.bank.balance("99", guild_id=GUILD).balance == 0
    assert context.bank.history("99", guild_id=GUILD) == []
    context.bank.add("99", 40, guild_id=GUILD, reason="minted before bots were refused")
    context.moderation.adjust_balance(ADMIN, "99", -40, reason="clean up", is_bot=True)
    assert context.bank.balance("99", guild_id=GUILD).balance == 0
