"""What members read: core errors in member words, and every embed within Discord's limits."""

from __future__ import annotations

import discord
import pytest

from bot.render import embed_size, fit_content, fit_embed, member_text
from core.errors import (
    ConfigError,
    ContentModerated,
    InsufficientFunds,
    ServiceUnavailable,
    UnknownUser,
)


@pytest.mark.parametrize(
    ("error", "shown", "hidden"),
    [
        (
            ConfigError("no Stability API key: set ABBY_IMAGES__API_KEY or images.api_key"),
            "not set up",
            "ABBY_",
        ),
        (
            ServiceUnavailable("http://127.0.0.1:9/v1 answered 502: <html>bad gateway</html>"),
            "try again",
            "127.0.0.1",
        ),
        (
            ContentModerated("provider body: {'finish_reason': 'CONTENT_FILTERED'}"),
            "refused that prompt",
            "finish_reason",
        ),
        (UnknownUser("cannot read /srv/abby/data/keys"), "can't do that", "/srv/"),
        (InsufficientFunds("1 has less than 5 in guild 99"), "less than 5", "ABBY_"),
    ],
)
def test_members_never_read_operator_text(error: Exception, shown: str, hidden: str) -> None:
    text = member_text(error)
    assert shown in text and hidden not in text and text.startswith("⚠️")


def test_an_embed_over_every_limit_is_cut_to_fit() -> None:
    card = discord.Embed(title="t" * 300, description="d" * 5000)
    for n in range(30):
        card.add_field(name=f"{n}" * 300, value="v" * 2000)
    fit_embed(card)
    assert len(card.title) <= 256 and len(card.description) <= 4096
    assert len(card.fields) <= 25
    assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in card.fields)
    assert embed_size(card) <= 6000


def test_a_small_embed_is_left_alone_and_content_is_cut_at_2000() -> None:
    card = discord.Embed(title="rank", description="short")
    card.add_field(name="XP", value="10")
    assert fit_embed(card).to_dict() == discord.Embed.from_dict(card.to_dict()).to_dict()
    assert len(fit_content("x" * 5000)) == 2000 and fit_content("ok") == "ok"
