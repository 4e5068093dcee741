"""Discord renderings of core results and errors: embeds, short ephemeral texts, and who a
message may ping.

Every message the bot sends states its `allowed_mentions`: `NO_PINGS` unless the message
addresses a member on purpose (`pinging(member)`), and never everyone, here or a role.
Member- and model-supplied text also goes through `defused` so a planted `@everyone` shows
as text rather than as a ping attempt.
"""

from __future__ import annotations

import re
from datetime import datetime

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


def opens_at(exc: AbbyError) -> str:
    """When a refusal carrying `next_at` (a daily already claimed, an export on cooldown)
    opens again, as Discord's relative time (`<t:...:R>`, shown in each member's own words)."""
    when = exc.fields.get("next_at")
    if not isinstance(when, datetime):
        raise TypeError(f"{type(exc).__name__} carries no next_at time")
    return discord.utils.format_dt(when, "R")


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
    return fit_embed(card)


# Discord's message limits (a message over one is refused with 400 Invalid Form Body).
CONTENT_LIMIT = 2000
EMBED_TOTAL = 6000
EMBED_FIELDS = 25
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048


def clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def fit_content(text: str) -> str:
    return clip(text, CONTENT_LIMIT)


def embed_size(card: discord.Embed) -> int:
    """The characters Discord counts toward an embed's 6,000."""
    size = len(card.title or "") + len(card.description or "")
    size += len(card.footer.text or "") + len(card.author.name or "")
    return size + sum(len(f.name or "") + len(f.value or "") for f in card.fields)


def fit_embed(card: discord.Embed) -> discord.Embed:
    """Cut an embed down to every Discord limit: each part to its own, then the longest
    field values (then the description) until the whole fits in 6,000."""
    if card.title:
        card.title = clip(card.title, TITLE_LIMIT)
    if card.description:
        card.description = clip(card.description, DESCRIPTION_LIMIT)
    if card.footer.text:
        card.set_footer(text=clip(card.footer.text, FOOTER_LIMIT), icon_url=card.footer.icon_url)
    fields = [
        (clip(f.name or "-", FIELD_NAME_LIMIT), clip(f.value or "-", FIELD_VALUE_LIMIT), f.inline)
        for f in card.fields[:EMBED_FIELDS]
    ]
    card.clear_fields()
    for name, value, inline in fields:
        card.add_field(name=name, value=value, inline=inline)
    while (excess := embed_size(card) - EMBED_TOTAL) > 0:
        values = [field.value or "" for field in card.fields]  # all set just above
        longest = max(range(len(values)), key=lambda i: len(values[i]), default=None)
        if longest is not None and len(values[longest]) > 40:
            field = card.fields[longest]
            keep = max(40, len(values[longest]) - excess)
            card.set_field_at(
                longest, name=field.name, value=clip(values[longest], keep), inline=field.inline
            )
        elif card.description and len(card.description) > 40:
            card.description = clip(card.description, max(40, len(card.description) - excess))
        else:
            card.remove_field(len(card.fields) - 1)
    return card


# --- long answers: ordered parts under the content limit ------------------------------------

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"[.!?][)\"'\]]*(?=\s)")


def _code_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, opening fence line) of every fenced code block; an unclosed one runs to
    the end of the text."""
    spans, start, fence, opener = [], 0, "", ""
    position = 0
    for line in text.splitlines(keepends=True):
        match = _FENCE.match(line)
        if match and not fence:
            fence, opener, start = match[1], line.rstrip("\n"), position
        elif match and fence and match[1].startswith(fence[0]) and len(match[1]) >= len(fence):
            spans.append((start, position + len(line.rstrip("\n")), opener))
            fence = ""
        position += len(line)
    if fence:
        spans.append((start, len(text), opener))
    return spans


def _inside(spans: list[tuple[int, int, str]], index: int) -> tuple[int, int, str] | None:
    """The code block that `index` falls strictly inside (its fence lines included)."""
    return next((s for s in spans if s[0] < index < s[1]), None)


def _best_cut(text: str, limit: int, spans: list[tuple[int, int, str]]) -> int:
    """Where to end a part of at most `limit` characters: the last paragraph break, else
    sentence end, else line break, else space, outside code blocks; preferring a cut in the
    second half of the window so parts are not needlessly short. 0 when there is none."""
    window = text[: limit + 1]
    candidates: list[list[int]] = [[], [], [], []]
    for match in re.finditer(r"\n[ \t]*\n", window):
        candidates[0].append(match.start())
    for match in _SENTENCE_END.finditer(window):
        candidates[1].append(match.end())
    for match in re.finditer(r"\n", window):
        candidates[2].append(match.start())
    for match in re.finditer(r"[ \t]", window):
        candidates[3].append(match.start())
    fallback = 0
    for kind in candidates:
        good = [i for i in kind if 0 < i <= limit and _inside(spans, i) is None]
        if not good:
            continue
        if max(good) >= limit // 2:
            return max(good)
        fallback = max(fallback, max(good))
    return fallback


def split_message(text: str, limit: int = CONTENT_LIMIT) -> list[str]:
    """`text` as ordered parts of at most `limit` characters each, cut on a paragraph,
    sentence or word boundary and never inside a ``` code block: a block that fits in a
    part is moved whole to the next part; one longer than a part is cut between lines, its
    fence closed at the end of one part and reopened at the start of the next."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        spans = _code_spans(text)
        cut = _best_cut(text, limit, spans)
        if cut == 0:
            block = _inside(spans, limit) or _inside(spans, limit // 2)
            if block is not None and block[0] == 0:
                # A code block longer than a part: close it here, reopen it in the next.
                opener = block[2]
                room = limit - len("\n```")
                cut = text.rfind("\n", len(opener) + 1, room + 1)
                if cut <= len(opener):
                    cut = room  # one line longer than a part: cut inside it
                parts.append(text[:cut].rstrip() + "\n```")
                text = opener + "\n" + text[cut:].lstrip("\n")
                continue
            cut = block[0] if block is not None and block[0] > 0 else limit
        head = text[:cut].rstrip()
        if head:
            parts.append(head)
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def close_open_fence(text: str) -> str:
    """`text` with a code block still open at its end closed (a reply still streaming)."""
    fence = ""
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match and not fence:
            fence = match[1]
        elif match and match[1].startswith(fence[0]) and len(match[1]) >= len(fence):
            fence = ""
    return text.rstrip() + "\n" + fence if fence else text
