"""Every slash command through the real bot process and the Discord stand-in, on both backends.

What is asserted is what a member would see: the reply's text or embed, whether it was public
or private (as Discord applies it, not as the bot asked), and what changed in the store. The
services behind the bot are real: OpenAI-compatible chat and Stability servers on 127.0.0.1,
Chroma with the local embedding model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from core.context import AppContext
from tests.bot.conftest import LiveBot
from tests.core.security_support import add_key
from tests.support.discord_standin import GUILD_ID, Interaction
from tests.support.image_fixtures import FAST_IMAGES
from tests.support.openai_server import ChatServer
from tests.support.stability_server import StabilityServer

pytestmark = pytest.mark.slow
GUILD = str(GUILD_ID)
LONG_TITLE = "A very long handbook title about mixing vocals and mastering " * 4


@pytest.fixture(scope="module")
def bot_env() -> Iterator[dict[str, str]]:
    stability = StabilityServer()
    stability.start()
    with ChatServer() as chat:
        env = {
            "ABBY_LLM__PROVIDER": "openai",
            "ABBY_LLM__BASE_URL": chat.base_url,
            "ABBY_LLM__API_KEY": "sk-bot-e2e-1",
            "ABBY_IMAGES__BASE_URL": stability.url,
        }
        env.update({f"ABBY_IMAGES__{k.upper()}": str(v) for k, v in FAST_IMAGES.items()})
        yield env
    stability.stop()


def prepare_store(context: AppContext) -> None:
    add_key(context)
    context.users.upsert("6401", "ada", "0", guild_id=GUILD)
    context.bank.add("6501", 100, guild_id=GUILD, reason="seed")
    for n in range(12):
        words = " ".join(
            f"vocals{n} mixing compressor reverb equaliser level{w}" for w in range(80)
        )
        context.rag.ingest_text(f"handbook-{n}.md", f"{LONG_TITLE} {n}", words, guild_id=GUILD)


def _balance(bot: LiveBot, user: str) -> int:
    context = bot.context()
    try:
        return context.bank.balance(user, guild_id=GUILD).balance
    finally:
        context.close()


def _private_line(interaction: Interaction) -> str:
    reply = interaction.wait_reply()
    assert reply.ephemeral, f"members would all see: {reply.content!r}"
    assert reply.content.startswith("⚠️"), reply.content
    return reply.content


# --- what each command answers ------------------------------------------------------------


@pytest.mark.slow
def test_profile_shows_the_members_profile(live_bot: LiveBot) -> None:
    reply = live_bot.standin.interact("profile", subcommand="view", user=6401).wait_reply()
    assert not reply.ephemeral and reply.embeds[0]["title"] == "ada"


def test_profile_of_someone_without_one_is_a_private_line(live_bot: LiveBot) -> None:
    line = _private_line(live_bot.standin.interact("profile", subcommand="view", user=6402))
    assert "no profile" in line


def test_leaderboard_lists_members_by_xp(live_bot: LiveBot) -> None:
    context = live_bot.context()
    context.xp.add("6411", 500, guild_id=GUILD)
    context.xp.add("6412", 900, guild_id=GUILD)
    context.close()
    reply = live_bot.standin.interact("leaderboard", {"limit": 25}, user=6411).wait_reply()
    text = reply.embeds[0]["description"]
    assert text.index("<@6412>") < text.index("<@6411>")
    assert reply.payload["data"]["allowed_mentions"] == {"parse": []}


def test_balance_is_private(live_bot: LiveBot) -> None:
    reply = live_bot.standin.interact("balance", user=6501).wait_reply()
    assert reply.ephemeral and "coins" in reply.content


def test_pay_moves_money_and_tells_the_channel(live_bot: LiveBot) -> None:
    before = _balance(live_bot, "6501")
    reply = live_bot.standin.interact(
        "pay", {"member": 6502, "amount": 10, "reason": "thanks"}, user=6501
    ).wait_reply()
    assert not reply.ephemeral and "paid <@6502> 10 coins" in reply.content
    assert _balance(live_bot, "6501") == before - 10
    assert _balance(live_bot, "6502") == 10


def test_a_redelivered_pay_interaction_pays_once(live_bot: LiveBot) -> None:
    context = live_bot.context()
    context.bank.add("6511", 50, guild_id=GUILD, reason="seed")
    context.close()
    first = live_bot.standin.interact("pay", {"member": 6512, "amount": 20}, user=6511)
    first.wait_reply()
    again = live_bot.standin.interact(
        "pay", {"member": 6512, "amount": 20}, user=6511, interaction_id=first.id
    )
    live_bot.standin.wait_for(lambda: again.errors, 10, "the second answer's refusal")
    assert again.errors == [(400, 40060)]  # Discord refused the second answer
    assert (_balance(live_bot, "6511"), _balance(live_bot, "6512")) == (30, 20)


@pytest.mark.parametrize(
    ("options", "members", "expected"),
    [
        ({"member": 6521, "amount": 5}, {}, "same user"),
        ({"member": 6529, "amount": 5}, {6529: {"bot": True}}, "bots cannot"),
        ({"member": 6522, "amount": 10_000}, {}, "less than"),
    ],
    ids=["to-oneself", "to-a-bot", "more-than-the-balance"],
)
def test_pay_refusals_are_private_and_change_nothing(
    live_bot: LiveBot, options: dict, members: dict, expected: str
) -> None:
    context = live_bot.context()
    context.bank.add("6521", 40, guild_id=GUILD, reason="seed")
    context.close()
    before = _balance(live_bot, "6521")
    interaction = live_bot.standin.interact("pay", options, user=6521, members=members)
    assert expected in _private_line(interaction)
    assert _balance(live_bot, "6521") == before
    if options["member"] != 6521:
        assert _balance(live_bot, str(options["member"])) == 0


def test_pay_zero_never_reaches_the_bot(live_bot: LiveBot) -> None:
    """Discord's client refuses values under the synced min_value, so the bot never sees 0."""
    amount = next(o for o in live_bot.standin.commands["pay"]["options"] if o["name"] == "amount")
    assert amount["min_value"] == 1 and amount["max_value"] == 2**53 - 1
    with pytest.raises(ValueError, match="outside"):
        live_bot.standin.interact("pay", {"member": 6532, "amount": 0}, user=6531)


def test_search_with_ten_results_over_long_documents_fits_every_embed_limit(
    live_bot: LiveBot,
) -> None:
    interaction = live_bot.standin.interact(
        "search", {"query": "vocals mixing compressor reverb", "results": 10}, user=6601
    )
    reply = interaction.wait_reply(60)
    assert interaction.errors == [], interaction.errors  # Discord accepted it
    card = reply.embeds[0]
    assert len(card["fields"]) == 10
    size = len(card["title"]) + sum(len(f["name"]) + len(f["value"]) for f in card["fields"])
    assert size <= 6000
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in card["fields"])


def test_ask_answers_in_the_channel(live_bot: LiveBot) -> None:
    interaction = live_bot.standin.interact(
        "ask", {"question": "hello there", "use_docs": False}, user=6701
    )
    reply = interaction.wait_reply(30)
    assert not reply.ephemeral
    # The answer streams into that message; its last edit is the whole reply.
    live_bot.standin.wait_for(
        lambda: live_bot.standin.sent_message(reply.message_id)["content"] == "echo: hello there",
        30,
        "the whole answer",
    )


def test_imagine_posts_the_image_and_quota_shows_one_used(live_bot: LiveBot) -> None:
    interaction = live_bot.standin.interact("imagine", {"prompt": "a red fox"}, user=6801)
    reply = interaction.wait_reply(30)
    assert not reply.ephemeral and "of 5 left today" in reply.content
    quota = live_bot.standin.interact("quota", user=6801).wait_reply()
    assert quota.ephemeral
    today = next(f for f in quota.embeds[0]["fields"] if f["name"] == "Today")
    assert today["value"] == "4 of 5 left"


def test_imagine_with_a_blank_prompt_is_a_private_line_and_uses_no_quota(
    live_bot: LiveBot,
) -> None:
    line = _private_line(live_bot.standin.interact("imagine", {"prompt": "   "}, user=6802))
    assert "prompt" in line
    quota = live_bot.standin.interact("quota", user=6802).wait_reply()
    today = next(f for f in quota.embeds[0]["fields"] if f["name"] == "Today")
    assert today["value"] == "5 of 5 left"


def test_an_expired_interaction_is_one_warning_and_no_error_event(live_bot: LiveBot) -> None:
    interaction = live_bot.standin.interact("rank", user=6901, age=5.0)
    live_bot.standin.wait_for(lambda: interaction.errors, 10, "the refused answer")
    assert interaction.errors == [(404, 10062)]  # no second attempt to answer it
    context = live_bot.context()
    try:
        errors = [e for e in context.events.tail(200) if e["type"] == "error"]
    finally:
        context.close()
    assert errors == []
    log = live_bot.process.log.parent / "logs" / "abby.log"

    def logged() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines() if interaction.id in line]

    live_bot.standin.wait_for(logged, 10, "the warning")
    time.sleep(0.3)  # a second line, if there were one, has had time to appear
    assert [w["level"] for w in logged()] == ["WARNING"], logged()
    assert "Task exception was never retrieved" not in live_bot.process.stderr()
