"""Discord renderings of core results and errors: embeds, short ephemeral texts, and who a
message may ping.

Every message the bot sends states its `allowed_mentions`: `NO_PINGS` unless the message
addresses a member on purpose (`pinging(member)`), and never everyone, here or a role.
Member- and model-supplied text also goes through `defused` so a planted `@everyone` shows
as text rather than as a ping attempt.
"""

from __future__ import annotations

import discord

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
    """The one line a user sees for a core error (the message never holds secrets)."""
    return f"⚠️ {exc}"


def embed(
    title: str, fields: dict[str, object], *, description: str | None = None
) -> discord.Embed:
    card = discord.Embed(title=title, description=description, color=COLOR_OK)
    for name, value in fields.items():
        card.add_field(name=name, value=str(value) if value not in (None, "") else "-", inline=True)
    return card
