"""Moderation from Discord: /xp-admin, /bank-admin, /kb and /abby status, through the real
command tree with real `discord.Interaction`s (a member's roles and resolved permissions as
the gateway sends them), answered through the REST stand-in on 127.0.0.1, on both backends.

Invoking a command's payload directly is exactly what Discord does once a server admin has
edited the command's default permissions to show it to everyone: only the core's check stands.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import discord
import discord.http
import pytest

from bot.app import AbbyBot
from core.context import AppContext, use_context
from core.scope import Scope
from tests.support.attachment_server import AttachmentServer, Route
from tests.support.discord_standin import APPLICATION_ID, DiscordStandIn

GUILD, CHANNEL = 99, 700
ADMIN_ROLE, MOD_ROLE, OTHER_ROLE = 5001, 5002, 5003
MEMBER, MODERATOR, ADMIN, OWNER, TARGET = 4242, 4343, 4444, 4545, 4646
MANAGE_GUILD = 1 << 5
EPHEMERAL = 1 << 6
LIMIT = 64 * 1024  # rag.max_file_bytes here: small, so the over-limit cases stay fast
_ids = itertools.count(930000000000000000)


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[DiscordStandIn]:
    with DiscordStandIn() as running:
        monkeypatch.setattr(discord.http.Route, "BASE", running.base_url)
        yield running


@pytest.fixture
def files() -> Iterator[AttachmentServer]:
    with AttachmentServer() as server:
        yield server


@pytest.fixture
def context(backend) -> Iterator[AppContext]:  # noqa: ANN001 - the conftest Backend
    settings = backend.settings(
        discord={
            "admin_role_ids": {str(GUILD): [str(ADMIN_ROLE)]},
            "moderator_role_ids": {str(GUILD): [str(MOD_ROLE)]},
        },
        rag={"max_file_bytes": LIMIT},
    )
    ctx = AppContext(settings)
    with use_context(ctx):
        yield ctx
    if settings.database.uri is not None and "database" in ctx.__dict__:
        ctx.database.client.drop_database(settings.database.name)
    ctx.close()


@pytest.fixture
async def bot(context: AppContext, standin: DiscordStandIn) -> AsyncIterator[AbbyBot]:
    running = AbbyBot(context)
    await running.login("stand-in-token")
    running.heartbeat.cancel()
    guild = running._connection._get_or_create_unavailable_guild(GUILD)
    running._connection._add_guild(guild)
    for role_id in (ADMIN_ROLE, MOD_ROLE, OTHER_ROLE):
        # What GUILD_CREATE would have cached: the guild's roles.
        data = {"id": str(role_id), "name": f"r{role_id}", "permissions": "0", "position": 1}
        guild._add_role(discord.Role(guild=guild, state=running._connection, data=data))
    yield running
    await running.close()


def _user(user_id: int) -> dict[str, Any]:
    return {"id": str(user_id), "username": f"m{user_id}", "discriminator": "0", "avatar": None}


def _member(user_id: int, roles: tuple[int, ...] = (), permissions: int = 0) -> dict[str, Any]:
    return {
        "user": _user(user_id),
        "roles": [str(r) for r in roles],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": str(permissions),
    }


ROLES = {
    MEMBER: ((OTHER_ROLE,), 0),
    MODERATOR: ((MOD_ROLE,), 0),
    ADMIN: ((ADMIN_ROLE,), 0),
    OWNER: ((), MANAGE_GUILD),  # no role, but Discord resolved Manage Server for them
}


async def slash(
    bot: AbbyBot,
    group: str,
    sub: str,
    options: list[dict[str, Any]] | None = None,
    *,
    by: int = MEMBER,
    resolved: dict[str, Any] | None = None,
    interaction_id: int | None = None,
) -> discord.Interaction:
    """Deliver /group sub as the gateway would, and let the tree run it (errors included)."""
    roles, permissions = ROLES[by]
    data = {
        "id": str(interaction_id or next(_ids)),
        "type": 2,
        "token": f"token-{next(_ids)}",
        "version": 1,
        "application_id": str(APPLICATION_ID),
        "attachment_size_limit": 8 * 1024 * 1024,
        "guild_id": str(GUILD),
        "channel_id": str(CHANNEL),
        "member": _member(by, roles, permissions),
        "data": {
            "id": "1",
            "name": group,
            "type": 1,
            "options": [{"name": sub, "type": 1, "options": options or []}],
            "resolved": resolved or {},
        },
        "locale": "en-US",
    }
    interaction = discord.Interaction(data=data, state=bot._connection)
    await bot.tree._call(interaction)
    return interaction


def member_option(user_id: int = TARGET) -> tuple[dict[str, Any], dict[str, Any]]:
    member = _member(user_id)
    member.pop("user")
    option = {"name": "member", "type": 6, "value": str(user_id)}
    return option, {"users": {str(user_id): _user(user_id)}, "members": {str(user_id): member}}


def replies(standin: DiscordStandIn) -> list[dict[str, Any]]:
    """What members saw: each reply's message (callback data, follow-ups)."""
    out = []
    for recorded in standin.messages():
        payload = recorded.payload
        assert isinstance(payload, dict)
        message = payload.get("data", {}) if "/callback" in recorded.path else payload
        if {"content", "embeds"} & message.keys():
            out.append(message)
    return out


def last_reply(standin: DiscordStandIn) -> dict[str, Any]:
    reply = replies(standin)[-1]
    assert reply["flags"] & EPHEMERAL, reply  # every moderation answer is private
    assert reply["allowed_mentions"]["parse"] == [], reply
    assert not reply["allowed_mentions"].get("users"), reply
    return reply


def governance(context: AppContext, kind: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in context.events.tail(50, event_type=f"governance.{kind}")]


# --- /xp-admin ------------------------------------------------------------------------------


async def test_xp_admin_add_by_a_member_without_the_role_is_refused_and_changes_nothing(
    bot: AbbyBot, standin: DiscordStandIn, context: AppContext
) -> None:
    option, resolved = member_option()
    amount = {"name": "amount", "type": 4, "value": 500}
    await slash(bot, "xp-admin", "add", [option, amount], by=MEMBER, resolved=resolved)
    reply = last_reply(standin)
    assert "moderators" in reply["content"], reply
    assert context.xp.get(str(TARGET), guild_id=str(GUILD)).xp == 0
    assert governance(context, "xp_add") == []


async def test_xp_admin_add_and_remove_by_a_moderator_record_who_and_why(
    bot: AbbyBot, standin: DiscordStandIn, context: AppContext
) -> None:
    option, resolved = member_option()
    reason = {"name": "reason", "type": 3, "value": "won the @everyone quiz"}
    amount = {"name": "amount", "type": 4, "value": 500}
    await slash(bot, "xp-admin", "add", [option, amount, reason], by=MODERATOR, resolved=resolved)
    assert f"<@{TARGET}>" in last_reply(standin)["content"]  # named, not pinged
    amount = {"name": "amount", "type": 4, "value": 120}
    await slash(bot, "xp-admin", "remove", [option, amount], by=MODERATOR, resolved=resolved)
    assert "now 380 XP" in last_reply(standin)["content"]
    assert context.xp.get(str(TARGET), guild_id=str(GUILD)).xp == 380
    assert [(e["actor_id"], e["amount"], e["reason"]) for e in governance(context, "xp_add")] == [
        (str(MODERATOR), 500, "won the @everyone quiz"),
        (str(MODERATOR), -120, None),
    ]


async def test_xp_admin_settings_need_an_admin_and_the_listener_honours_them(
    bot: AbbyBot, standin: DiscordStandIn, context: AppContext
) -> None:
    channel = {"name": "ignore_channel", "type": 7, "value": "7777"}
    cooldown = {"name": "cooldown_seconds", "type": 4, "value": 5}
    resolved = {
        "channels": {"7777": {"id": "7777", "type": 0, "name": "memes", "permissions": "0"}}
    }
    await slash(bot, "xp-admin", "settings", [cooldown, channel], by=MODERATOR, resolved=resolved)
    assert "admins" in last_reply(standin)["content"]
    assert context.xp.settings_for(str(GUILD)).cooldown_seconds == 60
    await slash(bot, "xp-admin", "settings", [cooldown, channel], by=ADMIN, resolved=resolved)
    [card] = last_reply(standin)["embeds"]
    fields = {f["name"]: f["value"] for f in card["fields"]}
    assert fields["Cooldown"] == "5 s" and fields["Ignored channels"] == "<#7777>"
    rules = context.xp.settings_for(str(GUILD))
    assert rules.cooldown_seconds == 5 and rules.ignored_channels == ("7777",)
    xp = context.xp
    assert xp.grant_message("1", guild_id=str(GUILD), now=1e9, channel_id="7777") is None
    assert xp.grant_message("1", guild_id=str(GUILD), now=1e9, channel_id="7778") is not None


# --- /bank-admin ----------------------------------------------------------------------------


async def test_bank_admin_is_for_admins_and_mints_once_per_interaction(
    bot: AbbyBot, standin: DiscordStandIn, context: AppContext
) -> None:
    option, resolved = member_option()
    args = [option, {"name": "amount", "type": 4, "value": 250}]
    args.append({"name": "reason", "type": 3, "value": "tournament prize"})
    await slash(bot, "bank-admin", "add", args, by=MODERATOR, resolved=resolved)
    assert "admins" in last_reply(standin)["content"]
    assert context.bank.balance(str(TARGET), guild_id=str(GUILD)).balance == 0
    for _ in range(2):  # the same interaction delivered twice
        await slash(bot, "bank-admin", "add", args, by=OWNER, resolved=resolved, interaction_id=77)
    assert context.bank.balance(str(TARGET), guild_id=str(GUILD)).balance == 250
    args[1] = {"name": "amount", "type": 4, "value": 50}
    await slash(bot, "bank-admin", "remove", args, by=ADMIN, resolved=resolved)
    assert "balance 200" in last_reply(standin)["content"]
    history = context.bank.history(str(TARGET), guild_id=str(GUILD))
    assert [(e.amount, e.reason) for e in history] == [(-50, "tournament prize")] + [
        (250, "tournament prize")
    ]
    assert [e["actor_id"] for e in governance(context, "bank_mint")] == [str(OWNER)]
    assert [e["actor_id"] for e in governance(context, "bank_burn")] == [str(ADMIN)]


# --- /kb ------------------------------------------------------------------------------------


def attachment(url: str, filename: str, size: int) -> tuple[list[dict], dict[str, Any]]:
    att_id = str(next(_ids))
    data = {"id": att_id, "filename": filename, "size": size, "url": url, "proxy_url": url}
    return [{"name": "file", "type": 11, "value": att_id}], {"attachments": {att_id: data}}


@pytest.mark.parametrize(
    ("filename", "size", "expected"),
    [
        ("huge.md", 50 * 1024 * 1024, "the file is 50.0 MiB; the limit is 64.0 KiB"),
        ("setup.exe", 2048, "cannot ingest .exe files"),
        ("empty.txt", 0, "the file is empty"),
    ],
)
async def test_kb_ingest_refuses_a_bad_attachment_before_downloading_it(
    bot: AbbyBot,
    standin: DiscordStandIn,
    context: AppContext,
    files: AttachmentServer,
    filename: str,
    size: int,
    expected: str,
) -> None:
    url = files.serve(f"/{filename}", b"x" * min(size, 10))
    options, resolved = attachment(url, filename, size)
    await slash(bot, "kb", "ingest", options, by=MODERATOR, resolved=resolved)
    assert expected in last_reply(standin)["content"]
    assert files.fetched == []  # refused on what Discord declared: nothing downloaded
    assert context.rag.list(Scope.of(str(GUILD))) == []


async def test_kb_ingest_by_a_member_is_refused_without_a_download(
    bot: AbbyBot, standin: DiscordStandIn, context: AppContext, files: AttachmentServer
) -> None:
    url = files.serve("/rules.md", b"# Rules\n\nBe kind.\n")
    options, resolved = attachment(url, "rules.md", 18)
    await slash(bot, "kb", "ingest", options, by=MEMBER, resolved=resolved)
    assert "moderators" in last_reply(standin)["content"]
    assert files.fetched == [] and context.rag.list(Scope.of(str(GUILD))) == []


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("lying", "over the 64.0 KiB limit"),  # declared small, streams past the cap
        ("elsewhere", "redirects to another host"),
        ("binary", "binary file"),
    ],
)
async def test_kb_ingest_refuses_what_arrives_when_it_breaks_the_rules(
    bot: AbbyBot,
    standin: DiscordStandIn,
    context: AppContext,
    files: AttachmentServer,
    route: str,
    expected: str,
) -> None:
    files.serve("/lying.md", b"a" * (LIMIT * 3), **{"Content-Length": ""})
    files.serve("/binary.md", b"\x00\x01" * 100)
    moved = files.url("/lying.md", host="localhost")  # the same server, under another name
    files.routes["/elsewhere.md"] = Route(status=302, headers={"Location": moved})
    options, resolved = attachment(files.url(f"/{route}.md"), f"{route}.md", 100)
    await slash(bot, "kb", "ingest", options, by=MODERATOR, resolved=resolved)
    assert expected in last_reply(standin)["content"]
    assert files.fetched == [f"/{route}.md"]  # and never the redirect's target
    assert context.rag.list(Scope.of(str(GUILD))) == []


@pytest.mark.slow
async def test_kb_ingest_list_and_delete_by_a_moderator(
    bot: AbbyBot, standin: DiscordStandIn, context: AppContext, files: AttachmentServer
) -> None:
    text = b"# House rules\n\nBe kind. No spoilers in #general. @everyone reads this.\n"
    options, resolved = attachment(files.serve("/rules.md", text), "rules.md", len(text))
    await slash(bot, "kb", "ingest", options, by=MODERATOR, resolved=resolved)
    assert "Added **House rules**" in last_reply(standin)["content"]
    [record] = context.rag.list(Scope.of(str(GUILD)))
    assert record.guild_id == str(GUILD) and record.user_id == str(MODERATOR)
    assert record.source == "discord:rules.md"
    [event] = governance(context, "kb_ingest")
    assert event["actor_id"] == str(MODERATOR) and event["doc_id"] == record.doc_id
    found = context.rag.query("spoilers", guild_id=str(GUILD), top_k=1)
    assert found and found[0].doc_id == record.doc_id
    assert context.rag.query("spoilers", guild_id="100", top_k=1) == []  # not another guild's

    await slash(bot, "kb", "list", by=MODERATOR)
    [card] = last_reply(standin)["embeds"]
    assert record.doc_id in card["description"] and "House rules" in card["description"]
    await slash(
        bot, "kb", "delete", [{"name": "document_id", "type": 3, "value": "nope"}], by=MODERATOR
    )
    assert "no document" in last_reply(standin)["content"]
    option = {"name": "document_id", "type": 3, "value": record.doc_id}
    await slash(bot, "kb", "delete", [option], by=MEMBER)
    assert context.rag.list(Scope.of(str(GUILD))) != []
    await slash(bot, "kb", "delete", [option], by=MODERATOR)
    assert "Deleted **House rules**" in last_reply(standin)["content"]
    assert context.rag.list(Scope.of(str(GUILD))) == []


# --- /abby status ---------------------------------------------------------------------------


async def test_abby_status_shows_moderators_the_backend_and_counts(
    bot: AbbyBot, standin: DiscordStandIn, context: AppContext
) -> None:
    await slash(bot, "abby", "status", by=MEMBER)
    assert "moderators" in last_reply(standin)["content"]
    context.xp.add("1", 10, guild_id=str(GUILD))
    await slash(bot, "abby", "status", by=MODERATOR)
    [card] = last_reply(standin)["embeds"]
    fields = {f["name"]: f["value"] for f in card["fields"]}
    assert fields["Database"] == context.database.backend
    assert fields["Gateway latency"] == "-"  # never connected here: no NaN shown
    # SQLite numbers its migrations (moderation_0002_utc_stamps), MongoDB its schema version.
    moderation = 2 if context.database.backend == "sqlite" else 1
    assert f"moderation {moderation}" in fields["Schema"]
    assert fields["xp"] == "1"
