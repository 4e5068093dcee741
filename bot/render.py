"""Discord renderings of core results and errors: embeds, short ephemeral texts, and who a
message may ping.

Every message the bot sends states its `allowed_mentions`: `NO_PINGS` unless the message
addresses a member on purpose (`pinging(member)`), and never everyone, here or a role.
Member- and model-supplied text also goes through `defused` so a planted `@everyone` shows
as text rather than as a ping attempt.
"""

from __future__ import annotations

import re

import discord

from core import errors
from core.errors import AbbyError

COLOR_OK = discord.Color.blurple()
COLOR_ERROR = discord.Color.red()

NO_PINGS = discord.AllowedMentions.none()


def pinging(*members: discord.abc.Snowflake) -> discord.AllowedMentions:
    """Allow pinging exactly these members: never everyone, here, roles or a replied user."""
    return discord.AllowedMentions(
        everyone=False, roles=False, users=list(members), replied_user=False
    )


def defused(text: str) -> str:
    """Text from a member or a model with @everyone, @here and id mentions broken by a
    zero-width space; `allowed_mentions` is what stops the ping, this keeps it from showing."""
    return discord.utils.escape_mentions(text)


def error_text(exc: AbbyError) -> str:
    """The one line a member sees for a core error (see `member_text`)."""
    return member_text(exc)


# What a member reads for errors whose core text is written for operators.
_MEMBER_LINES: tuple[tuple[type[AbbyError], str], ...] = (
    (errors.ConfigError, "This feature is not set up on this server yet; the operators know how."),
    (
        errors.ContentModerated,
        "The image service refused that prompt; try describing it differently.",
    ),
    (
        errors.OutOfCredits,
        "The image service is out of credits for now; the operators have been told.",
    ),
    (errors.ExternalRefusal, "The service behind this command refused the request."),
    (
        errors.TemporaryFailure,
        "That service is busy or unreachable right now; try again in a minute.",
    ),
)
# Operator text: environment variables, dotted setting names, file paths, provider bodies.
_OPERATOR_TEXT = re.compile(r"ABBY_|[a-z_]+\.[a-z_]+\b|/[\w.-]+/|\\|https?://|[{}]")


def member_text(exc: AbbyError) -> str:
    """The one line a member sees for a core error: the core's own words for a refusal of
    what they asked (funds, cooldown, bad amount), a fixed line for anything written for
    operators (configuration, provider failures, paths)."""
    for kind, line in _MEMBER_LINES:
        if isinstance(exc, kind):
            return f"⚠️ {line}"
    text = str(exc)
    if _OPERATOR_TEXT.search(text) or len(text) > 300:
        return "⚠️ I can't do that."
    return f"⚠️ {defused(text)}"


def embed(
    title: str, fields: dict[str, object], *, description: str | None = None
) -> discord.Embed:
    card = discord.Embed(title=title, description=description, color=COLOR_OK)
    for name, value in fields.items():
        card.add_field(name=name, value=str(value) if value not in (None, "") else "-", inline=True)
    return card
