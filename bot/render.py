"""Discord renderings of core results and errors: embeds and short ephemeral texts."""

from __future__ import annotations

import discord

from core.errors import AbbyError

COLOR_OK = discord.Color.blurple()
COLOR_ERROR = discord.Color.red()


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
