"""Item 6 of #15 through the real `abby bot run`, the Discord stand-in and the Stability
stand-in, on both backends: the buttons under a generated image act for its owner only,
charge what the command charges, survive a restart, and a kept image survives the real
`abby storage cleanup` past temporary retention."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cogs.images import DELETED, KEPT, NOT_YOURS
from core.errors import UnknownFile
from tests.bot.conftest import LiveBot, backend_env
from tests.conftest import BACKENDS, run_abby
from tests.support.bot_process import BotProcess
from tests.support.discord_standin import GUILD_ID, DiscordStandIn, Interaction
from tests.support.image_fixtures import FAST_IMAGES
from tests.support.stability_server import VARIED_PNG, StabilityServer, make_png

pytestmark = pytest.mark.slow
GUILD = str(GUILD_ID)
ACTIONS = ["regen", "vary", "upscale", "keep", "delete"]


@pytest.fixture(scope="module")
def stability() -> Iterator[StabilityServer]:
    server = StabilityServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bot_env(stability: StabilityServer) -> dict[str, str]:
    env = {"ABBY_IMAGES__BASE_URL": stability.url}
    env.update({f"ABBY_IMAGES__{k.upper()}": str(v) for k, v in FAST_IMAGES.items()})
    return env


def _used(bot: LiveBot, user: int) -> int:
    context = bot.context()
    try:
        return context.quota.get_quota_status(str(user))["daily"]["used"]
    finally:
        context.close()


def _buttons(standin: DiscordStandIn, message_id: str) -> dict[str, dict]:
    """The message's buttons by action, as a member sees them now."""
    state = standin.sent_message(message_id)
    found = {}
    for row in state["components"]:
        for button in row["components"]:
            found[button["custom_id"].split(":")[2]] = button
    return found


def _imagine(bot: LiveBot, user: int, prompt: str = "a red fox") -> tuple[str, str]:
    """Generate an image as `user`; return (message id, file id)."""
    reply = bot.standin.interact("imagine", {"prompt": prompt}, user=user).wait_reply(30)
    assert reply.attachments and not reply.ephemeral, reply
    buttons = _buttons(bot.standin, reply.message_id)
    assert list(buttons) == ACTIONS
    file_ids = {b["custom_id"].split(":")[3] for b in buttons.values()}
    assert len(file_ids) == 1
    return reply.message_id, file_ids.pop()


def _press(bot: LiveBot, message_id: str, action: str, file_id: str, user: int) -> Interaction:
    return bot.standin.press(message_id, f"abby:image:{action}:{file_id}", user=user)


def _answered_in_time(press: Interaction) -> None:
    first = press.wait_acknowledged(10)
    assert first.at - press.sent_at < 3.0, "Discord drops a press not answered within 3 s"


def _record(bot: LiveBot, file_id: str):  # noqa: ANN202
    context = bot.context()
    try:
        return context.storage.get(file_id)
    except UnknownFile:
        return None
    finally:
        context.close()


def test_regenerate_charges_one_unit_and_posts_a_new_image_with_its_own_buttons(
    live_bot: LiveBot, stability: StabilityServer
) -> None:
    message_id, file_id = _imagine(live_bot, 7101)
    assert _used(live_bot, 7101) == 1
    seed_before = stability.requests[-1].fields.get("seed")
    press = _press(live_bot, message_id, "regen", file_id, 7101)
    _answered_in_time(press)
    reply = press.wait_reply(30)
    assert not reply.ephemeral and reply.attachments[0]["data"] == make_png()
    assert _used(live_bot, 7101) == 2
    sent = stability.requests[-1]
    assert sent.fields["prompt"] == "a red fox" and sent.fields["seed"] != seed_before
    again = _buttons(live_bot.standin, reply.message_id)
    assert list(again) == ACTIONS and file_id not in again["regen"]["custom_id"]


def test_a_vary_press_by_another_member_is_refused_and_charges_nothing(
    live_bot: LiveBot, stability: StabilityServer
) -> None:
    message_id, file_id = _imagine(live_bot, 7201)
    requests = len(stability.requests)
    press = _press(live_bot, message_id, "vary", file_id, 7202)
    reply = press.wait_reply(10)
    assert reply.ephemeral and reply.content == NOT_YOURS and reply.type == 4
    assert reply.at - press.sent_at < 3.0
    time.sleep(0.5)  # nothing else may follow
    assert len(press.replies) == 1 and len(stability.requests) == requests
    assert _used(live_bot, 7202) == 0 and _used(live_bot, 7201) == 1
    assert _record(live_bot, file_id) is not None
    assert live_bot.standin.sent_message(message_id)["attachments"]


def test_no_button_acts_for_another_member(live_bot: LiveBot, stability: StabilityServer) -> None:
    message_id, file_id = _imagine(live_bot, 7211)
    requests = len(stability.requests)
    before = live_bot.standin.sent_message(message_id)
    for action in ACTIONS:
        reply = _press(live_bot, message_id, action, file_id, 7212).wait_reply(10)
        assert reply.ephemeral and reply.content == NOT_YOURS, action
    time.sleep(0.5)
    assert len(stability.requests) == requests and _used(live_bot, 7212) == 0
    record = _record(live_bot, file_id)
    assert record is not None and record.kept is False
    after = live_bot.standin.sent_message(message_id)
    assert after["attachments"] == before["attachments"]
    assert after["components"] == before["components"]


def test_the_owners_vary_sends_the_image_to_image_to_image(
    live_bot: LiveBot, stability: StabilityServer
) -> None:
    message_id, file_id = _imagine(live_bot, 7251)
    press = _press(live_bot, message_id, "vary", file_id, 7251)
    reply = press.wait_reply(30)
    assert reply.attachments[0]["data"] == VARIED_PNG and _used(live_bot, 7251) == 2
    sent = stability.requests[-1]
    assert sent.fields["mode"] == "image-to-image" and sent.files["image"][2] == make_png()


def test_delete_removes_the_file_and_record_and_the_image_from_the_message(
    live_bot: LiveBot,
) -> None:
    message_id, file_id = _imagine(live_bot, 7301)
    path = _stored_path(live_bot, file_id)
    assert path.exists()
    press = _press(live_bot, message_id, "delete", file_id, 7301)
    reply = press.wait_reply(10)
    assert reply.type == 7 and reply.at - press.sent_at < 3.0
    state = live_bot.standin.sent_message(message_id)
    assert state["content"] == DELETED
    assert state["attachments"] == [] and state["components"] == []
    assert _record(live_bot, file_id) is None and not path.exists()


def test_a_kept_image_survives_storage_cleanup_past_temp_retention(live_bot: LiveBot) -> None:
    kept_message, kept_id = _imagine(live_bot, 7401, "a kept fox")
    _, temp_id = _imagine(live_bot, 7401, "a passing fox")
    press = _press(live_bot, kept_message, "keep", kept_id, 7401)
    assert press.wait_reply(10).type == 7
    live_bot.standin.wait_for(
        lambda: any(r.kind == "followup" for r in press.replies), 10, "the kept line"
    )
    line = next(r for r in press.replies if r.kind == "followup")
    assert line.ephemeral and line.content == KEPT
    keep = _buttons(live_bot.standin, kept_message)["keep"]
    assert keep["disabled"] and keep["label"] == "Kept"
    kept_path, temp_path = _stored_path(live_bot, kept_id), _stored_path(live_bot, temp_id)
    _age(live_bot, [kept_id, temp_id], days=8)  # past the 7 days of temporary retention
    result = run_abby("storage", "cleanup", "--yes", "--json", env=live_bot.env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files_deleted"] == 1
    assert kept_path.exists() and _record(live_bot, kept_id).kept is True
    assert not temp_path.exists() and _record(live_bot, temp_id) is None


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_buttons_keep_working_after_a_bot_restart(
    backend_name: str,
    stability: StabilityServer,
    bot_env: dict[str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    env = {**backend_env(backend_name, tmp_path / "data", request), **bot_env}
    with DiscordStandIn() as standin:
        with BotProcess(standin, env) as first:
            first.wait_ready()
            bot = LiveBot(standin, first, env, 0.0)
            message_id, file_id = _imagine(bot, 7501)
            assert first.stop() == 0
        with BotProcess(standin, env):
            standin.wait_for(lambda: len(standin.identified) >= 2, 90, "the second IDENTIFY")
            stranger = _press(bot, message_id, "upscale", file_id, 7502)
            assert stranger.wait_reply(10).content == NOT_YOURS
            press = _press(bot, message_id, "upscale", file_id, 7501)
            _answered_in_time(press)
            assert press.wait_reply(30).attachments
            assert _used(bot, 7501) == 2 and _used(bot, 7502) == 0


# --- helpers that reach into the store (what a week of waiting would do) ----------------


def _stored_path(bot: LiveBot, file_id: str) -> Path:
    context = bot.context()
    try:
        return context.storage.absolute(context.storage.get(file_id))
    finally:
        context.close()


def _age(bot: LiveBot, file_ids: list[str], *, days: int) -> None:
    """Move these records' creation back by `days`: cleanup judges age by the record."""
    from core.db.codec import stamp

    context = bot.context()
    try:
        for file_id in file_ids:
            created = context.storage.get(file_id).created_at - timedelta(days=days)
            if context.settings.database.uri is None:
                with context.database.transaction() as conn:
                    conn.execute(
                        "UPDATE storage_files SET created_at = ? WHERE file_id = ?",
                        (stamp(created), file_id),
                    )
            else:
                context.database.collection("storage_files").update_one(
                    {"_id": file_id}, {"$set": {"created_at": created}}
                )
    finally:
        context.close()


# --- /gallery -------------------------------------------------------------------------------


def _keep_directly(bot: LiveBot, user: int, prompts: list[str]) -> list[str]:
    """Kept images saved straight into the store (no quota): the gallery's content."""
    context = bot.context()
    try:
        return [
            context.storage.save(
                str(user), make_png(), {"prompt": p}, guild_id=GUILD, kept=True
            ).file_id
            for p in prompts
        ]
    finally:
        context.close()


def test_gallery_lists_kept_images_privately_in_pages_with_prompts_defused(
    live_bot: LiveBot,
) -> None:
    member = 7601
    _keep_directly(live_bot, member, [f"fox number {n}" for n in range(11)])
    _keep_directly(live_bot, member, ["a fox @everyone <@&123>"])  # the newest: first
    reply = live_bot.standin.interact("gallery", user=member).wait_reply(10)
    assert reply.ephemeral
    text = reply.embeds[0]["description"]
    lines = text.splitlines()
    assert len(lines) == 10 and lines[0].startswith("**1.**") and "<t:" in lines[0]
    assert "@everyone" not in text and "@\u200beveryone" in text
    assert reply.payload["data"]["allowed_mentions"] == {"parse": []}
    turn = live_bot.standin.press(reply.message_id, "pages:next", user=member)
    page = turn.wait_reply(10)
    second = live_bot.standin.sent_message(reply.message_id)["embeds"][0]["description"]
    assert page.type in (7, None) and second.splitlines()[0].startswith("**11.**")
    assert "fox number 0" in second and len(second.splitlines()) == 2


def test_gallery_shows_one_kept_image_with_its_buttons_and_the_temporary_ones_not(
    live_bot: LiveBot,
) -> None:
    member = 7701
    _, temp_id = _imagine(live_bot, member, "only temporary")
    empty = live_bot.standin.interact("gallery", user=member).wait_reply(10)
    assert empty.ephemeral and "not kept any images" in empty.embeds[0]["description"]
    [kept_id] = _keep_directly(live_bot, member, ["a kept owl"])
    shown = live_bot.standin.interact("gallery", {"show": 1}, user=member).wait_reply(10)
    assert shown.ephemeral and "a kept owl" in shown.content
    assert shown.attachments[0]["data"] == make_png()
    buttons = _buttons(live_bot.standin, shown.message_id)
    assert kept_id in buttons["regen"]["custom_id"] and buttons["keep"]["disabled"]
    missing = live_bot.standin.interact("gallery", {"show": 2}, user=member).wait_reply(10)
    assert missing.ephemeral and "no image 2" in missing.content
    assert temp_id not in json.dumps(shown.payload)
