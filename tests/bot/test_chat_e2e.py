"""Chat through the real bot process and the Discord stand-in, on both backends: mentions,
summons and dismissals, streamed answers split into ordered parts, and no LLM configured.

The LLM is the OpenAI-compatible test server on 127.0.0.1 (streaming); what is asserted is
what members see in the channel and what the store holds afterwards.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.context import AppContext
from core.scope import Scope
from tests.bot.conftest import LiveBot
from tests.conftest import BACKENDS
from tests.core.security_support import add_key
from tests.support.discord_standin import (
    APPLICATION_ID,
    CHANNEL_IDS,
    GUILD_ID,
    DiscordStandIn,
    Interaction,
)
from tests.support.openai_server import ChatServer

pytestmark = pytest.mark.slow
GUILD = str(GUILD_ID)
FENCE = re.compile(r"^\s*```", re.M)
# Discord limits message edits per channel: each streaming test has a channel of its own.
CHANNEL_LONG, CHANNEL_STREAM = CHANNEL_IDS[4], CHANNEL_IDS[5]
CHAT = ChatServer()


@pytest.fixture(scope="module")
def bot_env() -> Iterator[dict[str, str]]:
    with CHAT:
        yield {
            "ABBY_LLM__PROVIDER": "openai",
            "ABBY_LLM__BASE_URL": CHAT.base_url,
            "ABBY_LLM__API_KEY": "sk-chat-e2e-1",
            "ABBY_CHAT__RATE_LIMIT_PER_MINUTE": "3",
        }


@pytest.fixture(autouse=True)
def _plain_server() -> Iterator[None]:
    yield
    CHAT.reply, CHAT.delay, CHAT.token_delay = None, 0.0, 0.0


def prepare_store(context: AppContext) -> None:
    add_key(context)


def _messages_in(standin: DiscordStandIn, channel: int) -> list[dict[str, Any]]:
    """What members see now of the bot's messages in a channel, oldest first."""
    return standin.messages_in(channel)


def _mention(standin: DiscordStandIn, user: int, channel: int, text: str) -> None:
    event = standin.message_event(user=user, content=f"<@{APPLICATION_ID}> {text}", channel=channel)
    event["mentions"] = [standin.user(APPLICATION_ID, bot=True)]
    standin.dispatch("MESSAGE_CREATE", event)


def _session_status(bot: LiveBot, user: str, channel: int) -> list[str]:
    context = bot.context()
    try:
        return [
            s.status
            for s in context.sessions._repo.list(
                user_id=user, scope=Scope.of(GUILD), status=None, limit=50
            )
            if s.channel_id == str(channel)
        ]
    finally:
        context.close()


def _final(standin: DiscordStandIn, channel: int, count: int, timeout: float = 30) -> list[str]:
    """The contents of the bot's first `count` messages in the channel once none is still
    streaming (the live part ends with the cursor)."""

    def done() -> list[str] | None:
        contents = [m["content"] for m in _messages_in(standin, channel)]
        if len(contents) >= count and not any(c.endswith(" …") for c in contents):
            return contents
        return None

    return standin.wait_for(done, timeout, f"{count} finished messages in {channel}")


def _parts_of(interaction: Interaction, standin: DiscordStandIn) -> list[str]:
    ids = [interaction.original] + [
        r.message_id for r in interaction.replies if r.kind == "followup"
    ]
    return [standin.sent_message(i)["content"] for i in ids if i is not None]


# --- mentions, summons, dismissals --------------------------------------------------------


@pytest.mark.slow
def test_a_mention_starts_a_conversation_with_a_greeting(live_bot: LiveBot) -> None:
    channel = live_bot.standin.channel_ids[1]
    _mention(live_bot.standin, 7101, channel, "what is XP?")
    [reply] = _final(live_bot.standin, channel, 1)
    greeting, answer = reply.split("\n\n", 1)
    assert "member7101" in greeting
    assert answer == "echo: what is XP?"
    assert _session_status(live_bot, "7101", channel) == ["active"]
    # The next mention continues the same conversation: the model sees the history.
    _mention(live_bot.standin, 7101, channel, "and levels?")
    contents = _final(live_bot.standin, channel, 2)
    assert contents[1] == "echo: and levels?"  # no second greeting
    sent = [m["content"] for m in CHAT.requests[-1]["body"]["messages"][1:]]
    assert sent[-3:] == ["what is XP?", "echo: what is XP?", "and levels?"]
    assert _session_status(live_bot, "7101", channel) == ["active"]


def test_a_dismissal_ends_the_conversation_and_a_message_merely_with_thanks_does_not(
    live_bot: LiveBot,
) -> None:
    standin = live_bot.standin
    channel = standin.channel_ids[2]
    standin.send_message(user=7201, channel=channel, content="hey abby, how do I rank up?")
    _final(standin, channel, 1)
    assert _session_status(live_bot, "7201", channel) == ["active"]
    asked = len(CHAT.requests)
    standin.send_message(user=7201, channel=channel, content="thanks for the tip, it worked")
    standin.send_message(user=7201, channel=channel, content="thanks")
    time.sleep(1.5)  # a reply, if there were one, has had time to arrive
    assert len(_messages_in(standin, channel)) == 1
    assert _session_status(live_bot, "7201", channel) == ["active"]
    assert len(CHAT.requests) == asked
    standin.send_message(user=7201, channel=channel, content="Thanks, that's all!")
    contents = _final(standin, channel, 2)
    assert contents[1] in {"See you around! 😊", "Talk soon! 😊", "Take care! 😊"}
    assert _session_status(live_bot, "7201", channel) == ["closed"]
    assert len(CHAT.requests) == asked  # ending costs no model call


def test_model_output_that_tries_to_ping_is_neutralised(live_bot: LiveBot) -> None:
    standin = live_bot.standin
    channel = standin.channel_ids[3]
    CHAT.reply = "Sure @everyone and @here, also <@&810000000000000123> and <@123456789012345678>!"
    _mention(standin, 7301, channel, "ping them")
    [content] = _final(standin, channel, 1)
    assert "@everyone" not in content and "@here" not in content
    assert "<@&810000000000000123>" not in content
    assert "<@123456789012345678>" not in content
    posts = [r for r in standin.channel_messages(channel)]
    edits = [
        r for r in standin.requests if r.method == "PATCH" and f"/channels/{channel}/" in r.path
    ]
    assert posts and all(r.payload["allowed_mentions"]["parse"] == [] for r in posts + edits)


# --- streaming and long answers -----------------------------------------------------------


def _long_answer() -> str:
    prose = " ".join(f"Step {n} explains one more thing about levels." for n in range(33))
    code = "```python\n" + "\n".join(f"reward_{n} = grant(level={n})" for n in range(45)) + "\n```"
    tail = " ".join(f"Finally, point {n} wraps it up." for n in range(21, 40))
    text = f"{prose}\n\n{code}\n\n{prose}\n\n{tail}"
    assert 4800 <= len(text) <= 5600 and len(code) < 2000
    return text


def test_a_5000_character_answer_arrives_as_ordered_parts_with_no_broken_code_block(
    live_bot: LiveBot,
) -> None:
    CHAT.reply = _long_answer()
    interaction = live_bot.standin.interact(
        "ask", {"question": "explain levels", "use_docs": False}, user=7401, channel=CHANNEL_LONG
    )
    interaction.wait_reply(30)

    def finished() -> list[str] | None:
        parts = _parts_of(interaction, live_bot.standin)
        joined = " ".join(parts)
        done = len(parts) >= 3 and not any(p.endswith(" …") for p in parts)
        return parts if done and "wraps it up." in joined.split("point 39")[-1] else None

    parts = live_bot.standin.wait_for(finished, 30, "the whole answer")
    assert interaction.errors == [] and live_bot.standin.rate_limited == []
    assert all(len(p) <= 2000 for p in parts)
    assert all(len(FENCE.findall(p)) % 2 == 0 for p in parts), parts
    code_parts = [p for p in parts if "```python" in p]
    assert len(code_parts) == 1 and code_parts[0].count("reward_") == 45  # the block whole
    assert parts[0].startswith("Step 0 ") and parts[-1].endswith("wraps it up.")
    assert " ".join(parts).split() == CHAT.reply.split()  # nothing lost, nothing reordered
    assert not any(r.ephemeral for r in interaction.replies if r.kind != "callback")


@pytest.mark.slow
def test_the_first_token_reaches_discord_within_1_1_s_and_edits_come_once_a_second(
    live_bot: LiveBot,
) -> None:
    CHAT.reply = " ".join(f"word{n}" for n in range(60))
    CHAT.token_delay = 0.05  # a 3-second answer
    interaction = live_bot.standin.interact(
        "ask", {"question": "stream please", "use_docs": False}, user=7501, channel=CHANNEL_STREAM
    )
    interaction.wait_reply(30)
    original = interaction.original
    live_bot.standin.wait_for(
        lambda: live_bot.standin.sent_message(original)["content"].endswith("word59"), 30, "end"
    )
    edits = live_bot.standin.edits(original)
    first_token = CHAT.first_token_at[-1]
    assert edits[0][0] - first_token <= 1.1, edits[0][0] - first_token
    gaps = [b[0] - a[0] for a, b in zip(edits, edits[1:], strict=False)]
    assert len(edits) >= 3 and min(gaps) >= 0.95, gaps  # streamed, at most once a second


def test_asking_too_fast_is_one_private_line_and_no_model_call(live_bot: LiveBot) -> None:
    for n in range(3):  # chat.rate_limit_per_minute is 3 in this module
        interaction = live_bot.standin.interact(
            "ask", {"question": f"q{n}", "use_docs": False}, user=7601
        )
        assert not interaction.wait_reply(30).ephemeral
    asked = len(CHAT.requests)
    refused = live_bot.standin.interact("ask", {"question": "q3", "use_docs": False}, user=7601)
    reply = refused.wait_reply(30)
    assert reply.ephemeral and reply.content.startswith("⚠️") and "a minute" in reply.content
    assert len(CHAT.requests) == asked


# --- no LLM configured --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_chat_with_no_llm_configured_is_one_private_line_and_no_model_call(
    start_bot: Callable[..., LiveBot], backend: str
) -> None:
    with ChatServer() as server:
        bot = start_bot(env={"ABBY_LLM__BASE_URL": server.base_url}, backend=backend)
        interaction = bot.standin.interact("chat", {"message": "hello"}, user=7701)
        reply = interaction.wait_reply(30)
        time.sleep(0.5)  # anything else the bot would send has had time to arrive
        assert reply.ephemeral and reply.content.startswith("⚠️"), reply
        assert "\n" not in reply.content
        assert [r for r in interaction.replies if r.kind != "delete"] == [reply]
        # A mention is not answered at all (no line in the channel per mention).
        channel = bot.standin.channel_ids[7]
        _mention(bot.standin, 7702, channel, "are you there?")
        time.sleep(1.5)
        assert _messages_in(bot.standin, channel) == []
        assert server.requests == []
        assert "a mention was not answered: config_error" in bot.process.stderr()


@pytest.mark.slow
def test_mentions_past_the_rate_limit_get_no_answer_and_no_model_call(live_bot: LiveBot) -> None:
    standin = live_bot.standin
    channel = standin.channel_ids[6]
    asked = len(CHAT.requests)
    for n in range(5):  # chat.rate_limit_per_minute is 3 in this module
        _mention(standin, 7801, channel, f"question {n}")
        time.sleep(0.3)
    _final(standin, channel, 3)
    time.sleep(1.5)  # a fourth reply, if there were one, has had time to arrive
    assert len(_messages_in(standin, channel)) == 3  # no reply floods the channel
    assert len(CHAT.requests) - asked == 3


# --- the greeting from the first edit -----------------------------------------------------


def test_a_new_chat_shows_the_greeting_in_its_first_edit_not_only_the_last(
    live_bot: LiveBot,
) -> None:
    CHAT.reply = " ".join(f"word{n}" for n in range(40))
    CHAT.token_delay = 0.05  # a 2-second answer: several edits
    standin = live_bot.standin
    interaction = standin.interact(
        "chat", {"message": "hello there"}, user=7911, channel=standin.channel_ids[8]
    )
    interaction.wait_reply(30)
    original = interaction.original

    def done() -> bool:
        text = standin.sent_message(original)["content"]
        return "word39" in text and not text.endswith(" …")

    standin.wait_for(done, 30, "end")
    edits = [content for _, content in standin.edits(original)]
    assert len(edits) >= 2, edits
    first_greeting, streamed = edits[0].split("\n\n", 1)
    assert "member7911" in first_greeting and streamed.startswith("word0"), edits[0]
    assert edits[0].endswith(" …"), "the first edit is a live one, before the answer is done"
    final_greeting, final_reply = edits[-1].split("\n\n", 2)[:2]  # then sources, if any
    assert final_greeting == first_greeting  # the same greeting, not a second random one
    assert final_reply == CHAT.reply


def test_a_mention_opening_a_conversation_posts_the_greeting_with_the_first_token(
    live_bot: LiveBot,
) -> None:
    CHAT.reply = " ".join(f"word{n}" for n in range(40))
    CHAT.token_delay = 0.05
    standin = live_bot.standin
    channel = standin.channel_ids[9]
    _mention(standin, 7912, channel, "tell me a story")
    [final] = _final(standin, channel, 1)
    [message] = _messages_in(standin, channel)
    posted = standin.channel_messages(channel)[0]  # the first message, with the first token
    greeting, streamed = posted.payload["content"].split("\n\n", 1)
    assert "member7912" in greeting and streamed.startswith("word0"), posted.payload
    assert final == f"{greeting}\n\n{CHAT.reply}" and message["content"] == final
