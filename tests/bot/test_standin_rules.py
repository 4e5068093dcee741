"""The Discord stand-in's own rules, driven with plain HTTP and a bare gateway client.

Every e2e test of the bot trusts the stand-in to refuse what Discord refuses and to keep what
Discord keeps, so each rule is checked here without a bot process: an httpx client plays the
bot's REST calls, a small aiohttp websocket client identifies on the gateway and collects the
events Discord would dispatch.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from tests.support.discord_standin import (
    APPLICATION_ID,
    CHANNEL_IDS,
    GUILD_ID,
    DiscordStandIn,
    Interaction,
)

CHANNEL = CHANNEL_IDS[0]
MEMBER, OTHER = 4242, 4343
DEFAULT_INTENTS = (1 << 0) | (1 << 7) | (1 << 9) | (1 << 15)  # guilds, voice, messages, content
MEMBERS_INTENT = 1 << 1
BUTTONS = [
    {
        "type": 1,
        "components": [
            {"type": 2, "style": 1, "label": "Next", "custom_id": "pages:next"},
            {"type": 2, "style": 2, "label": "Prev", "custom_id": "pages:prev", "disabled": True},
        ],
    }
]


class Gateway:
    """A bare gateway client: IDENTIFY with `intents`, keep every dispatched event."""

    def __init__(self, standin: DiscordStandIn, intents: int) -> None:
        self.standin, self.intents = standin, intents
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self.standin.gateway_url) as ws:
                await ws.receive_json()  # HELLO
                await ws.send_json({"op": 2, "d": {"token": "t", "intents": self.intents}})
                while not self._stop.is_set():
                    try:
                        frame = await ws.receive_json(timeout=0.05)
                    except TimeoutError:
                        continue
                    except TypeError:  # the socket closed
                        return
                    if frame.get("op") == 0:
                        self.events.append((frame["t"], frame["d"]))

    def __enter__(self) -> Gateway:
        self._thread.start()
        self.standin.wait_identified(10)
        self.wait("GUILD_CREATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def wait(self, event: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [d for t, d in self.events if t == event]
            if found:
                return found[-1]
            time.sleep(0.01)
        raise TimeoutError(f"no {event} within {timeout} s")

    def count(self, event: str, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait for the n-th `event` (a dispatch is written before the client reads it)."""
        deadline = time.monotonic() + timeout
        while len(self.of(event)) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {n} {event} within {timeout} s")
            time.sleep(0.01)
        return self.of(event)

    def of(self, event: str) -> list[dict[str, Any]]:
        return [d for t, d in self.events if t == event]


@pytest.fixture
def standin() -> Iterator[DiscordStandIn]:
    with DiscordStandIn(roles={"Level 5": 5005}, voice={7001: 830000000000000000}) as running:
        yield running


@pytest.fixture
def gateway(standin: DiscordStandIn) -> Iterator[Gateway]:
    with Gateway(standin, DEFAULT_INTENTS | MEMBERS_INTENT) as running:
        yield running


@pytest.fixture
def rest(standin: DiscordStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standin.base_url, timeout=5) as client:
        client.put(
            f"/applications/{APPLICATION_ID}/commands",
            json=[{"name": "menu", "description": "d", "type": 1}],
        ).raise_for_status()
        yield client


def _post_buttons(rest: httpx.Client, channel: int = CHANNEL, **extra: Any) -> dict[str, Any]:
    response = rest.post(
        f"/channels/{channel}/messages", json={"content": "page 1", "components": BUTTONS, **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _callback(rest: httpx.Client, interaction: Interaction, body: dict[str, Any]) -> httpx.Response:
    return rest.post(f"/interactions/{interaction.id}/{interaction.token}/callback", json=body)


# --- presses ------------------------------------------------------------------------------


def test_a_press_dispatches_a_component_interaction_carrying_the_message(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    sent = _post_buttons(rest)
    assert sent["components"] == BUTTONS  # discord.py rebuilds its View from these
    press = standin.press(sent["id"], "pages:next", user=MEMBER)
    event = gateway.wait("INTERACTION_CREATE")
    assert event["type"] == 3 and event["token"] == press.token
    assert event["data"] == {"custom_id": "pages:next", "component_type": 2}
    assert event["message"]["id"] == sent["id"]
    assert event["message"]["components"] == BUTTONS
    assert event["member"]["user"]["id"] == str(MEMBER)


def test_update_message_callback_changes_the_pressed_message_in_place(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    sent = _post_buttons(rest)
    press = standin.press(sent["id"], "pages:next")
    answer = _callback(rest, press, {"type": 7, "data": {"content": "page 2"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["interaction"]["response_message_id"] == sent["id"]
    reply = press.wait_reply()
    assert reply.type == 7 and reply.message_id == sent["id"] and not reply.ephemeral
    state = standin.sent_message(sent["id"])
    assert state["content"] == "page 2"
    assert state["components"] == BUTTONS  # untouched keys are kept
    assert [content for _, content in standin.edits(sent["id"])] == ["page 2"]


def test_deferred_update_then_edit_original_edits_the_pressed_message(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    sent = _post_buttons(rest)
    press = standin.press(sent["id"], "pages:next")
    assert _callback(rest, press, {"type": 6}).status_code == 200
    assert standin.sent_message(sent["id"])["content"] == "page 1"  # a defer changes nothing
    edited = rest.patch(
        f"/webhooks/{APPLICATION_ID}/{press.token}/messages/@original",
        json={"content": "page 2", "components": []},
    )
    assert edited.status_code == 200 and edited.json()["id"] == sent["id"]
    assert standin.sent_message(sent["id"])["components"] == []


def test_a_press_is_refused_when_discord_would_offer_nothing_to_press(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    sent = _post_buttons(rest)
    with pytest.raises(LookupError, match="no component"):
        standin.press(sent["id"], "pages:last")
    with pytest.raises(PermissionError, match="disabled"):
        standin.press(sent["id"], "pages:prev")
    with pytest.raises(LookupError, match="no message"):
        standin.press("123", "pages:next")
    assert rest.delete(f"/channels/{CHANNEL}/messages/{sent['id']}").status_code == 204
    assert standin.sent_message(sent["id"])["deleted"] is True
    with pytest.raises(LookupError, match="no message"):
        standin.press(sent["id"], "pages:next")
    standin.voice(MEMBER, standin.voice_channel_ids[0])
    gateway.wait("VOICE_STATE_UPDATE")  # anything a refused press dispatched has arrived
    assert gateway.of("INTERACTION_CREATE") == []


def test_an_ephemeral_message_can_be_pressed_only_by_the_member_who_sees_it(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    command = standin.interact("menu", user=MEMBER)
    body = {"type": 4, "data": {"content": "menu", "flags": 64, "components": BUTTONS}}
    assert _callback(rest, command, body).status_code == 200
    message_id = command.wait_reply().message_id
    assert standin.sent_message(message_id)["ephemeral"] is True
    with pytest.raises(PermissionError, match="ephemeral"):
        standin.press(message_id, "pages:next", user=OTHER)
    assert standin.press(message_id, "pages:next", user=MEMBER).user_id == MEMBER


def test_a_press_answered_after_three_seconds_is_unknown_and_once_only(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    sent = _post_buttons(rest)
    late = standin.press(sent["id"], "pages:next", age=3.5)
    assert _callback(rest, late, {"type": 6}).json()["code"] == 10062
    press = standin.press(sent["id"], "pages:next")
    assert _callback(rest, press, {"type": 6}).status_code == 200
    assert _callback(rest, press, {"type": 7, "data": {}}).json()["code"] == 40060
    assert late.errors == [(404, 10062)] and press.errors == [(400, 40060)]


def test_update_message_is_refused_for_a_slash_command(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    command = standin.interact("menu")
    assert _callback(rest, command, {"type": 7, "data": {"content": "x"}}).status_code == 400


# --- message state, follow-ups, edits -----------------------------------------------------


def test_follow_ups_are_messages_their_token_can_edit_and_delete(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    command = standin.interact("menu")
    assert _callback(rest, command, {"type": 5}).status_code == 200
    hook = f"/webhooks/{APPLICATION_ID}/{command.token}"
    first = rest.post(hook, json={"content": "first"}).json()
    # The first follow-up after a defer replaces the "thinking" message itself.
    assert first["id"] == command.replies[0].message_id
    second = rest.post(hook, json={"content": "second", "flags": 64}).json()
    assert second["id"] != first["id"]
    assert rest.patch(f"{hook}/messages/{second['id']}", json={"content": "2nd"}).status_code == 200
    assert standin.sent_message(second["id"])["content"] == "2nd"
    assert standin.sent_message(second["id"])["ephemeral"] is True
    other = standin.interact("menu")
    _callback(rest, other, {"type": 5})
    stranger = rest.patch(
        f"/webhooks/{APPLICATION_ID}/{other.token}/messages/{second['id']}", json={"content": "x"}
    )
    assert stranger.status_code == 404 and stranger.json()["code"] == 10008
    assert rest.delete(f"{hook}/messages/{second['id']}").status_code == 204
    assert standin.sent_message(second["id"])["deleted"] is True
    assert standin.sent_message(second["id"])["content"] == "2nd"


def test_an_interaction_token_stops_working_after_fifteen_minutes(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    command = standin.interact("menu")
    assert _callback(rest, command, {"type": 5}).status_code == 200
    command.sent_at -= 15 * 60 + 1
    late = rest.post(f"/webhooks/{APPLICATION_ID}/{command.token}", json={"content": "late"})
    assert late.status_code == 401 and late.json()["code"] == 50027


def test_channel_messages_are_edited_and_deleted_only_where_they_are(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    sent = _post_buttons(rest)
    path = f"/channels/{CHANNEL}/messages/{sent['id']}"
    assert rest.patch(path, json={"content": "page 9"}).json()["content"] == "page 9"
    assert rest.get(path).json()["content"] == "page 9"
    elsewhere = rest.patch(f"/channels/{CHANNEL_IDS[1]}/messages/{sent['id']}", json={})
    assert elsewhere.json()["code"] == 10008
    assert rest.post("/channels/42/messages", json={"content": "x"}).json()["code"] == 10003
    assert rest.delete(path).status_code == 204
    assert rest.patch(path, json={"content": "again"}).status_code == 404
    command = standin.interact("menu", channel=CHANNEL)
    _callback(rest, command, {"type": 4, "data": {"content": "answer"}})
    shown = standin.messages_in(CHANNEL)
    assert [(m["content"], m["deleted"]) for m in shown] == [("page 9", True), ("answer", False)]
    assert standin.messages_in(CHANNEL_IDS[1]) == []


def test_attachments_are_kept_with_their_bytes_and_served(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    payload = {"content": "your file", "attachments": [{"id": 0, "filename": "me.json"}]}
    files = {"files[0]": ("me.json", b'{"xp": 5}', "application/json")}
    sent = rest.post(
        f"/channels/{CHANNEL}/messages", data={"payload_json": json.dumps(payload)}, files=files
    ).json()
    [state] = standin.sent_message(sent["id"])["attachments"]
    assert state == {"filename": "me.json", "size": 9, "data": b'{"xp": 5}'}
    assert httpx.get(sent["attachments"][0]["url"]).content == b'{"xp": 5}'
    # An edit that lists no attachment drops it (how a bot removes an image).
    rest.patch(f"/channels/{CHANNEL}/messages/{sent['id']}", json={"attachments": []})
    assert standin.sent_message(sent["id"])["attachments"] == []


def test_uploads_over_ten_mebibytes_are_refused_and_nothing_is_sent(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    big = b"x" * (10 * 1024 * 1024 + 1)
    refused = rest.post(
        f"/channels/{CHANNEL}/messages",
        data={"payload_json": json.dumps({"content": "too big"})},
        files={"files[0]": ("big.bin", big, "application/octet-stream")},
    )
    assert refused.status_code == 413 and refused.json()["code"] == 40005
    assert standin.channel_messages() == []


def test_a_sixth_edit_within_five_seconds_on_a_channel_gets_a_429_discord_py_retries(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    sent = _post_buttons(rest)
    path = f"/channels/{CHANNEL}/messages/{sent['id']}"
    answers = [rest.patch(path, json={"content": f"v{n}"}) for n in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[4].headers["X-RateLimit-Remaining"] == "0"
    limited = answers[5]
    body = limited.json()
    assert body["global"] is False and 0 < body["retry_after"] <= 5.0
    # discord.py sleeps and retries only a 429 that came through Discord's proxy.
    assert limited.headers["Via"] and limited.headers["X-RateLimit-Remaining"] == "0"
    assert float(limited.headers["X-RateLimit-Reset-After"]) == pytest.approx(
        body["retry_after"], abs=0.01
    )
    assert standin.sent_message(sent["id"])["content"] == "v4"  # the refused edit did nothing
    other = _post_buttons(rest, CHANNEL_IDS[1])
    assert rest.patch(f"/channels/{CHANNEL_IDS[1]}/messages/{other['id']}", json={}).is_success


def test_components_over_discords_limits_are_refused(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    button = {"type": 2, "style": 1, "label": "b"}
    six = [{"type": 1, "components": [{**button, "custom_id": f"b{n}"} for n in range(6)]}]
    long_id = [{"type": 1, "components": [{**button, "custom_id": "x" * 101}]}]
    twice = [{"type": 1, "components": [{**button, "custom_id": "same"}] * 2}]
    options = [{"label": str(n), "value": str(n)} for n in range(26)]
    select = [{"type": 1, "components": [{"type": 3, "custom_id": "s", "options": options}]}]
    for components in (six, long_id, twice, select):
        refused = rest.post(f"/channels/{CHANNEL}/messages", json={"components": components})
        assert refused.status_code == 400 and refused.json()["code"] == 50035, components


# --- roles and members --------------------------------------------------------------------


def test_guild_create_lists_the_roles_the_bots_own_role_and_the_bot_member(
    standin: DiscordStandIn, gateway: Gateway
) -> None:
    guild = gateway.wait("GUILD_CREATE")
    roles = {r["name"]: r for r in guild["roles"]}
    assert roles["Level 5"]["id"] == "5005"
    assert roles["Level 5"]["position"] < roles["Abby"]["position"]
    bot = next(m for m in guild["members"] if m["user"]["id"] == str(APPLICATION_ID))
    assert bot["roles"] == [roles["Abby"]["id"]]


def test_the_bot_gives_and_takes_a_role_below_its_own_and_discord_tells_the_bot(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    role = standin.add_role("Level 10")
    assert gateway.wait("GUILD_ROLE_CREATE")["role"]["id"] == str(role)
    path = f"/guilds/{GUILD_ID}/members/{MEMBER}/roles/{role}"
    assert rest.put(path).status_code == 204
    assert standin.member_roles(MEMBER) == {role}
    update = gateway.wait("GUILD_MEMBER_UPDATE")
    assert update["user"]["id"] == str(MEMBER) and update["roles"] == [str(role)]
    assert rest.get(f"/guilds/{GUILD_ID}/members/{MEMBER}").json()["roles"] == [str(role)]
    assert rest.delete(path).status_code == 204
    assert standin.member_roles(MEMBER) == set()


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [("unknown role", 404, 10011), ("above the bot", 403, 50013), ("unknown guild", 404, 10004)],
)
def test_role_changes_discord_refuses(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client, case: str, status: int, code: int
) -> None:
    role = {"unknown role": 999, "above the bot": standin.add_role("Staff", above_bot=True)}.get(
        case, 5005
    )
    guild = 1 if case == "unknown guild" else GUILD_ID
    refused = rest.put(f"/guilds/{guild}/members/{MEMBER}/roles/{role}")
    assert (refused.status_code, refused.json()["code"]) == (status, code)
    assert standin.member_roles(MEMBER) == set()
    standin.voice(MEMBER, standin.voice_channel_ids[0])
    gateway.wait("VOICE_STATE_UPDATE")  # anything the refusal dispatched has arrived
    assert gateway.of("GUILD_MEMBER_UPDATE") == []


def test_a_bot_without_manage_roles_cannot_give_any_role() -> None:
    with DiscordStandIn(roles={"Level 5": 5005}, bot_permissions=0) as standin:
        answer = httpx.put(f"{standin.base_url}/guilds/{GUILD_ID}/members/{MEMBER}/roles/5005")
        assert (answer.status_code, answer.json()["code"]) == (403, 50013)
        assert standin.member_roles(MEMBER) == set()


def test_member_updates_need_the_members_intent(
    standin: DiscordStandIn, rest: httpx.Client
) -> None:
    with Gateway(standin, DEFAULT_INTENTS) as gateway:
        assert rest.put(f"/guilds/{GUILD_ID}/members/{MEMBER}/roles/5005").status_code == 204
        standin.voice(MEMBER, standin.voice_channel_ids[0])
        gateway.wait("VOICE_STATE_UPDATE")  # events after the role change have arrived
        assert gateway.of("GUILD_MEMBER_UPDATE") == []


# --- voice and DMs ------------------------------------------------------------------------


def test_guild_create_has_voice_channels_an_afk_channel_and_who_is_in_voice(
    standin: DiscordStandIn, gateway: Gateway
) -> None:
    guild = gateway.wait("GUILD_CREATE")
    voice = {c["id"] for c in guild["channels"] if c["type"] == 2}
    assert {str(c) for c in standin.voice_channel_ids} | {str(standin.afk_channel_id)} == voice
    assert guild["afk_channel_id"] == str(standin.afk_channel_id)
    [state] = guild["voice_states"]
    assert state["user_id"] == "7001" and state["channel_id"] == str(standin.voice_channel_ids[0])
    assert any(m["user"]["id"] == "7001" for m in guild["members"])


def test_voice_state_updates_carry_the_member_and_leaving_clears_the_channel(
    standin: DiscordStandIn, gateway: Gateway
) -> None:
    standin.voice(MEMBER, standin.afk_channel_id, self_mute=True)
    joined = gateway.wait("VOICE_STATE_UPDATE")
    assert joined["channel_id"] == str(standin.afk_channel_id) and joined["self_mute"] is True
    assert joined["member"]["user"]["id"] == str(MEMBER)
    standin.voice(MEMBER, None)
    assert gateway.count("VOICE_STATE_UPDATE", 2)[-1]["channel_id"] is None
    assert MEMBER not in standin.voice_states
    with pytest.raises(LookupError):
        standin.voice(MEMBER, CHANNEL)  # a text channel


def test_a_dm_channel_records_what_the_bot_sends_a_member(
    standin: DiscordStandIn, gateway: Gateway, rest: httpx.Client
) -> None:
    channel = rest.post("/users/@me/channels", json={"recipient_id": str(MEMBER)}).json()
    assert channel["type"] == 1 and channel["recipients"][0]["id"] == str(MEMBER)
    again = rest.post("/users/@me/channels", json={"recipient_id": str(MEMBER)}).json()
    assert again["id"] == channel["id"]
    rest.post(f"/channels/{channel['id']}/messages", json={"content": "your export"})
    assert [m["content"] for m in standin.dm_messages(MEMBER)] == ["your export"]
    assert standin.dm_messages(OTHER) == []
    standin.dms_closed.add(MEMBER)
    closed = rest.post(f"/channels/{channel['id']}/messages", json={"content": "x"})
    assert (closed.status_code, closed.json()["code"]) == (403, 50007)
