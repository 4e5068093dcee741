"""Profiles and a member's data through the real bot process, on both backends (#15 item 5).

A member sets their profile with `/profile set` (checked by the core, as `abby user set` is),
gets a file of everything held about them with `/privacy export`, and erases it with
`/privacy forget` behind a Confirm button. What is asserted is what the member sees (private
or not, as Discord applied it; the file's bytes) and what is left in the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from core.context import AppContext
from core.errors import UnknownUser
from tests.bot.conftest import LiveBot
from tests.core.security_support import add_key
from tests.support.discord_standin import GUILD_ID, Interaction

pytestmark = pytest.mark.slow
GUILD = str(GUILD_ID)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
# Members with data (profile, XP, money moving both ways, a conversation, a stored image).
EXPORTER, CANCELLER, FORGETTER, OTHER = 7101, 7201, 7301, 7901


def _populate(context: AppContext, member: int) -> None:
    user = str(member)
    context.users.upsert(user, f"member{member}", "0", guild_id=GUILD)
    context.users.update(user, {"bio": f"bio of {member}"}, guild_id=GUILD)
    context.xp.add(user, 120, guild_id=GUILD)
    context.bank.add(user, 500, guild_id=GUILD, reason="seed")
    context.bank.transfer(user, str(OTHER), 70, guild_id=GUILD)
    session = context.sessions.create(user, "c1", GUILD)
    context.sessions.append(session, "user", f"private question of {member}")
    context.storage.save(user, PNG, {"prompt": "a cat"}, guild_id=GUILD)


def prepare_store(context: AppContext) -> None:
    add_key(context)
    for member in (EXPORTER, CANCELLER, FORGETTER):
        _populate(context, member)
    context.users.upsert(str(OTHER), "other", "0", guild_id=GUILD)
    context.users.update(str(OTHER), {"bio": "the other member's secret"}, guild_id=GUILD)
    other = context.sessions.create(str(OTHER), "c1", GUILD)
    context.sessions.append(other, "user", "words of the other member")


@contextmanager
def _store(bot: LiveBot) -> Iterator[AppContext]:
    context = bot.context()
    try:
        yield context
    finally:
        context.close()


def _private_line(interaction: Interaction, timeout: float = 10.0) -> str:
    reply = interaction.wait_reply(timeout)
    assert reply.ephemeral, f"members would all see: {reply.content!r}"
    assert reply.content.startswith("⚠️"), reply.content
    return reply.content


def _set(bot: LiveBot, user: int, **options: str) -> Interaction:
    return bot.standin.interact("profile", options, subcommand="set", user=user)


def _option(bot: LiveBot, name: str) -> dict:
    group = bot.standin.commands["profile"]
    command = next(o for o in group["options"] if o["name"] == "set")
    return next(o for o in command["options"] if o["name"] == name)


# --- /profile set -------------------------------------------------------------------------


def test_profile_set_creates_the_profile_of_a_member_who_never_spoke(live_bot: LiveBot) -> None:
    with _store(live_bot) as context:
        assert context.users.get("7001", guild_id=GUILD) is None
    interaction = _set(
        live_bot, 7001, bio="I mix vocals", pronouns="she/her", timezone="Asia/Tokyo"
    )
    reply = interaction.wait_reply()
    assert reply.ephemeral and reply.content.startswith("Saved"), reply.content
    with _store(live_bot) as context:
        profile = context.users.get("7001", guild_id=GUILD)
    assert (profile.username, profile.bio, profile.pronouns, profile.timezone) == (
        "member7001",
        "I mix vocals",
        "she/her",
        "Asia/Tokyo",
    )
    shown = live_bot.standin.interact("profile", subcommand="view", user=7001).wait_reply()
    fields = {f["name"]: f["value"] for f in shown.embeds[0]["fields"]}
    assert not shown.ephemeral and shown.embeds[0]["description"] == "I mix vocals"
    assert fields["Timezone"] == "Asia/Tokyo" and fields["Local time"].endswith("(UTC+09:00)")


def test_a_timezone_mars_olympus_is_one_private_line_and_nothing_is_stored(
    live_bot: LiveBot,
) -> None:
    line = _private_line(_set(live_bot, 7002, timezone="Mars/Olympus"))
    assert "not an IANA zone name such as Europe/Paris" in line, line
    assert "\n" not in line
    path = _private_line(_set(live_bot, 7002, timezone="../../etc/passwd"))
    assert "passwd" not in path and "Europe/Paris" in path, path
    with _store(live_bot) as context:
        assert context.users.get("7002", guild_id=GUILD) is None


def test_a_5000_character_bio_is_stopped_by_the_client_and_refused_by_the_bot(
    live_bot: LiveBot,
) -> None:
    bio = _option(live_bot, "bio")
    assert bio["max_length"] == 1000 and _option(live_bot, "pronouns")["max_length"] == 40
    with pytest.raises(ValueError, match="outside"):
        _set(live_bot, 7003, bio="b" * 5000)  # Discord's client does not send it
    # A client that ignores max_length: the core's limit still holds, with the limit named.
    bio.pop("max_length")
    try:
        line = _private_line(_set(live_bot, 7003, bio="b" * 5000))
    finally:
        bio["max_length"] = 1000
    assert "bio is 5000 characters; the limit is 1000" in line, line
    with _store(live_bot) as context:
        assert context.users.get("7003", guild_id=GUILD) is None


def test_profile_clear_removes_one_field(live_bot: LiveBot) -> None:
    _set(live_bot, 7004, bio="temporary", pronouns="they/them").wait_reply()
    reply = live_bot.standin.interact(
        "profile", {"field": "bio"}, subcommand="clear", user=7004
    ).wait_reply()
    assert reply.ephemeral and "Removed your bio" in reply.content
    with _store(live_bot) as context:
        profile = context.users.get("7004", guild_id=GUILD)
    assert (profile.bio, profile.pronouns) == (None, "they/them")


# --- /privacy export ----------------------------------------------------------------------


def test_privacy_export_sends_the_member_their_data_privately_and_nobody_elses(
    live_bot: LiveBot,
) -> None:
    interaction = live_bot.standin.interact("privacy", subcommand="export", user=EXPORTER)
    reply = interaction.wait_reply(30)
    assert reply.ephemeral, "the export must be private"
    assert "Only you can see this message" in reply.content
    [attachment] = reply.attachments
    assert attachment["filename"] == f"abby-data-{EXPORTER}.json"
    raw: bytes = attachment["data"]
    assert attachment["size"] == len(raw) <= 10 * 1024 * 1024
    document = json.loads(raw)
    assert document["user_id"] == str(EXPORTER)
    assert [p["bio"] for p in document["profiles"]] == [f"bio of {EXPORTER}"]
    assert document["xp"] == [{"guild_id": GUILD, "xp": 120}]
    assert document["bank"][0]["balance"] == 430 and len(document["bank"][0]["ledger"]) == 2
    [session] = document["sessions"]
    assert session["messages"][0]["content"] == f"private question of {EXPORTER}"
    assert len(document["files"]) == 1
    foreign = [b"the other member's secret", b"words of the other member"]
    foreign += [
        f"{what} of {m}".encode()
        for m in (CANCELLER, FORGETTER)
        for what in ("bio", "private question")
    ]
    for text in foreign:
        assert text not in raw, text
    with _store(live_bot) as context:
        [event] = context.events.tail(1, event_type="governance.privacy.export")
    assert event["payload"]["actor"] == "discord member (self)"
    assert str(EXPORTER) not in json.dumps(event)


def test_privacy_export_of_a_member_with_nothing_held_is_one_private_line(
    live_bot: LiveBot,
) -> None:
    line = _private_line(live_bot.standin.interact("privacy", subcommand="export", user=7009), 30)
    assert "nothing is held about user 7009" in line


# --- /privacy forget ----------------------------------------------------------------------


def _ask_to_forget(bot: LiveBot, member: int) -> str:
    reply = bot.standin.interact("privacy", subcommand="forget", user=member).wait_reply(30)
    assert reply.ephemeral and "It cannot be undone" in reply.content, reply.content
    assert "1 conversation(s) with 1 message(s)" in reply.content
    state = bot.standin.sent_message(reply.message_id)
    ids = [c["custom_id"] for row in state["components"] for c in row["components"]]
    assert ids == ["privacy:forget", "privacy:keep"]
    return reply.message_id


def _held(bot: LiveBot, member: int) -> dict | None:
    with _store(bot) as context:
        try:
            return context.privacy.export(str(member), actor="test")
        except UnknownUser:
            return None


def test_privacy_forget_cancelled_erases_nothing(live_bot: LiveBot) -> None:
    before = _held(live_bot, CANCELLER)
    message_id = _ask_to_forget(live_bot, CANCELLER)
    press = live_bot.standin.press(message_id, "privacy:keep", user=CANCELLER)
    answer = press.wait_reply()
    assert answer.type == 7 and "nothing was erased" in answer.content
    assert live_bot.standin.sent_message(message_id)["components"] == []
    after = _held(live_bot, CANCELLER)
    assert after is not None
    for key in ("profiles", "xp", "bank", "sessions", "files"):
        assert after[key] == before[key], key


def test_privacy_forget_confirmed_erases_the_member_and_only_them(live_bot: LiveBot) -> None:
    message_id = _ask_to_forget(live_bot, FORGETTER)
    press = live_bot.standin.press(message_id, "privacy:forget", user=FORGETTER)
    answer = press.wait_reply(30)
    assert answer.ephemeral and answer.content.startswith("Erased: 1 profile(s)"), answer.content
    assert live_bot.standin.sent_message(message_id)["components"] == []
    assert _held(live_bot, FORGETTER) is None
    with _store(live_bot) as context:
        assert context.users.get(str(FORGETTER), guild_id=GUILD) is None
        assert context.users.get(str(OTHER), guild_id=GUILD) is not None
        [event] = context.events.tail(1, event_type="governance.privacy.forget")
    assert event["payload"]["actor"] == "discord member (self)"
    assert (event["payload"]["sessions"], event["payload"]["files"]) == (1, 1)
    assert str(FORGETTER) not in json.dumps(event)
    assert _held(live_bot, EXPORTER) is not None  # another member's data is untouched
