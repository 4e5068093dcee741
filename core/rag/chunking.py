"""Chunking: split a document along its structure into pieces that fit the model's window.

A document is cut at its Markdown headings into sections; a section into blocks (paragraphs,
list runs, fenced code); a block that is too long into sentences; a sentence that is too long
into words; a word run that is still too long (CJK has no spaces) into grapheme clusters, so
no character, combining mark or emoji sequence is ever cut in half. Pieces are packed greedily
into chunks of at most `chunk_tokens` tokens and a chunk repeats the tail of the previous one
(up to `overlap_tokens`) when both belong to the same section.

Each chunk is embedded with its document's context in front (see `embedding_text`): the
title, a lead (the front-matter description or first sentence, which told a paraphrased
question which page it was about in our evaluation) and the heading path. Each part is
bounded in tokens and the body's budget is what the window leaves, so a chunk plus its
prefix never exceeds the model's window: `chunk_document` counts the whole embedded text with
the real tokenizer and splits again rather than let the model truncate. The text stored and
returned to a user is the chunk alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# all-MiniLM-L6-v2 sees 256 tokens, two of which are [CLS] and [SEP].
WINDOW_TOKENS = 254
MIN_BUDGET = 32
MAX_TITLE_CHARS = 100
MAX_HEADING_CHARS = 120
MAX_LEAD_CHARS = 240
# Token caps on each prefix part, so the body keeps at least ~125 tokens of the window even
# for a CJK title (a token per character) or an endless first sentence.
MAX_TITLE_TOKENS = 40
MAX_LEAD_TOKENS = 48
MAX_HEADING_TOKENS = 40
HEADING_JOINER = " › "

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
# A sentence ends after . ! ? … followed by space, after CJK/fullwidth enders (no space
# needed), after Arabic/Urdu enders followed by space, or at a line break inside a block.
_SENTENCE_END = re.compile(
    r"(?<=[.!?…])[\"')\]]*\s+"
    r"|(?<=[。！？；])[」』”）]*\s*"
    r"|(?<=[؟۔])\s+"
    r"|\s*\n\s*"
)
_SPACE = re.compile(r"\s+")
# YAML front matter at the very top of a Markdown file; its description is the best lead.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_DESCRIPTION = re.compile(r"^(?:description|summary)[ \t]*:[ \t]*(.+)$", re.M | re.I)
_LEAD_SKIP = re.compile(r"^\s*(?:#|```|~~~|[|>]|[-*+] |\d+[.)] |<|!\[)")


@dataclass(frozen=True)
class Chunk:
    """One piece of a document: its text, section heading, position and token count.

    `embedded` is the text the model sees (context prefix + text), `embedded_tokens` its
    WordPiece count, always <= WINDOW_TOKENS.
    """

    index: int
    text: str
    heading: str
    tokens: int
    embedded: str = ""
    embedded_tokens: int = 0


@dataclass(frozen=True)
class _Unit:
    text: str
    sep: str  # what joined it to the previous unit in the source
    tokens: int


def embedding_text(title: str, heading: str, text: str, lead: str = "") -> str:
    """The text actually embedded for a chunk: title, lead and heading give it context.

    chunk_document passes parts already clipped to their token caps; clipping here again
    (by characters) only bounds callers that build prefixes themselves.
    """
    head = _clip(title, MAX_TITLE_CHARS)
    if lead:
        head += "\n" + _clip(lead, MAX_LEAD_CHARS)
    if heading:
        head += "\n" + _clip(heading, MAX_HEADING_CHARS)
    return f"{head}\n\n{text}" if head else text


def document_lead(text: str) -> str:
    """A document's lead: its front-matter description, else its first prose sentence.

    Headings, code, tables, quotes, lists and HTML are skipped; "" when there is no prose.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    front = _FRONT_MATTER.match(text)
    if front:
        described = _DESCRIPTION.search(front.group(1))
        if described and described.group(1).strip(" \t'\""):
            return _clip(described.group(1).strip(" \t'\""), MAX_LEAD_CHARS)
        text = text[front.end() :]
    in_fence = False
    for block in re.split(r"\n[ \t]*\n", text):
        stripped = block.strip()
        fences = sum(1 for line in block.split("\n") if _FENCE.match(line))
        was_in_fence = in_fence
        in_fence ^= fences % 2 == 1
        if was_in_fence or fences or not stripped or _LEAD_SKIP.match(stripped):
            continue
        if len(stripped.split()) < 3:  # a label or a stray word, not a sentence
            continue
        first = next(iter(_split(" ".join(stripped.split()), _SENTENCE_END)), ("", ""))[1]
        return _clip(first, MAX_LEAD_CHARS)
    return ""


def chunk_document(
    title: str,
    text: str,
    *,
    count_tokens: Callable[[str], int],
    chunk_tokens: int = 200,
    overlap_tokens: int = 32,
    lead: str | None = None,
) -> list[Chunk]:
    """Split `text` into chunks; [] when it holds nothing but whitespace.

    `count_tokens` is the embedder's (WordPiece tokens without special tokens). Chunk texts
    are exact substrings-with-separators of the source: nothing is normalised or dropped
    except runs of blank lines between blocks. `lead` defaults to `document_lead(text)`;
    pass "" for none.
    """
    if overlap_tokens >= chunk_tokens:
        overlap_tokens = chunk_tokens // 4
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    title_part = _clip_tokens(_clip(title, MAX_TITLE_CHARS), MAX_TITLE_TOKENS, count_tokens)
    lead_part = _clip_tokens(
        document_lead(text) if lead is None else _clip(lead, MAX_LEAD_CHARS),
        MAX_LEAD_TOKENS,
        count_tokens,
    )
    chunks: list[Chunk] = []
    for heading, blocks in _sections(_without_front_matter(text), title):
        heading_part = _clip_tokens(
            _clip(heading, MAX_HEADING_CHARS), MAX_HEADING_TOKENS, count_tokens
        )
        head = embedding_text(title_part, heading_part, "", lead_part).rstrip("\n")
        prefix = count_tokens(head) + 2  # + the blank line
        budget = max(MIN_BUDGET, min(chunk_tokens, WINDOW_TOKENS - prefix))
        units = list(_units(blocks, budget, count_tokens))
        for body, tokens in _pack(units, budget, min(overlap_tokens, budget // 2)):
            for piece, piece_tokens, embedded, embedded_tokens in _fit(
                head, body, tokens, count_tokens
            ):
                chunks.append(
                    Chunk(
                        index=len(chunks),
                        text=piece,
                        heading=heading,
                        tokens=piece_tokens,
                        embedded=embedded,
                        embedded_tokens=embedded_tokens,
                    )
                )
    return chunks


def _fit(
    head: str, body: str, tokens: int, count: Callable[[str], int]
) -> Iterator[tuple[str, int, str, int]]:
    """Yield (body, tokens, embedded text, its tokens), halving a body that overflows.

    Token counts of pieces add up to the count of their join for text split at whitespace,
    but a word cut between graphemes can tokenise differently once joined; the real count of
    the whole embedded text is the only proof that the model will see all of it.
    """
    embedded = f"{head}\n\n{body}" if head else body
    embedded_tokens = count(embedded)
    if embedded_tokens <= WINDOW_TOKENS or len(body) < 2:
        yield body, tokens, embedded, embedded_tokens
        return
    clusters = list(graphemes(body))
    middle = len(clusters) // 2
    # Prefer a whitespace boundary near the middle.
    spaces = [i for i, c in enumerate(clusters) if c.isspace()]
    if spaces:
        middle = min(spaces, key=lambda i: abs(i - middle)) or middle
    for part in ("".join(clusters[:middle]).strip(), "".join(clusters[middle:]).strip()):
        if part:
            yield from _fit(head, part, count(part), count)


def _without_front_matter(text: str) -> str:
    front = _FRONT_MATTER.match(text)
    return text[front.end() :] if front else text


# --- structure ------------------------------------------------------------------------------


def _sections(text: str, title: str) -> Iterator[tuple[str, list[str]]]:
    """Yield (heading path, blocks) per section; fenced code never opens a section."""
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> tuple[str, list[str]] | None:
        blocks = _blocks(lines)
        if not blocks:
            return None
        names = [name for _, name in path]
        if names and names[0].strip().casefold() == title.strip().casefold():
            names = names[1:]  # the H1 is usually the title, already in front
        return HEADING_JOINER.join(names), blocks

    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            section = flush()
            if section:
                yield section
            lines = []
            level = len(match.group(1))
            path = [(lvl, name) for lvl, name in path if lvl < level]
            path.append((level, match.group(2).strip()))
        else:
            lines.append(line)
    section = flush()
    if section:
        yield section


def _blocks(lines: list[str]) -> list[str]:
    """Paragraphs separated by blank lines; a fenced code block stays one block."""
    blocks: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            if current:
                blocks.append("\n".join(current).strip("\n"))
                current = []
            continue
        current.append(line.rstrip())
    if current:
        blocks.append("\n".join(current).strip("\n"))
    return [b for b in blocks if b.strip()]


def _units(blocks: list[str], budget: int, count: Callable[[str], int]) -> Iterator[_Unit]:
    """The smallest pieces packing needs: whole blocks when they fit, else finer pieces."""
    for number, block in enumerate(blocks):
        sep = "\n\n" if number else ""
        tokens = count(block)
        if tokens <= budget:
            yield _Unit(block, sep, tokens)
            continue
        first = True
        for sentence_sep, sentence in _split(block, _SENTENCE_END):
            for unit in _sentence_units(sentence, budget, count):
                if first:
                    yield _Unit(unit.text, sep, unit.tokens)
                    first = False
                elif unit.sep == "\0":
                    yield _Unit(unit.text, sentence_sep, unit.tokens)
                else:
                    yield unit


def _sentence_units(sentence: str, budget: int, count: Callable[[str], int]) -> Iterator[_Unit]:
    # sep "\0" marks "use the separator of the sentence itself" for the first piece.
    tokens = count(sentence)
    if tokens <= budget:
        yield _Unit(sentence, "\0", tokens)
        return
    first = True
    for word_sep, word in _split(sentence, _SPACE):
        word_tokens = count(word)
        pieces = [(word, word_tokens)] if word_tokens <= budget else _graphemes_split(word, budget)
        for n, (piece, piece_tokens) in enumerate(pieces):
            if first:
                sep = "\0"
                first = False
            else:
                sep = word_sep if n == 0 else ""
            yield _Unit(piece, sep, piece_tokens if word_tokens <= budget else count(piece))


def _split(text: str, boundary: re.Pattern[str]) -> Iterator[tuple[str, str]]:
    """Yield (separator before, piece) for the pieces of text between boundary matches."""
    start, sep = 0, ""
    for match in boundary.finditer(text):
        if match.end() == 0 or match.start() < start:
            continue
        piece = text[start : match.start()]
        if piece:
            yield sep, piece
            sep = match.group(0)
        else:
            sep += match.group(0)
        start = match.end()
    if text[start:]:
        yield sep, text[start:]


def _graphemes_split(word: str, budget: int) -> list[tuple[str, int]]:
    """Cut a space-less run into pieces of at most `budget` characters, between clusters.

    A WordPiece token covers at least one character, so `budget` characters never exceed
    `budget` tokens; the caller recounts each piece.
    """
    pieces: list[tuple[str, int]] = []
    current = ""
    for cluster in graphemes(word):
        if current and len(current) + len(cluster) > budget:
            pieces.append((current, 0))
            current = ""
        current += cluster
    if current:
        pieces.append((current, 0))
    return pieces


def graphemes(text: str) -> Iterator[str]:
    """Approximate extended grapheme clusters: never split a mark, a ZWJ sequence or a flag."""
    cluster = ""
    regional = 0
    for char in text:
        code = ord(char)
        joins = bool(cluster) and (
            unicodedata.category(char).startswith("M")
            or char == "\u200d"
            or cluster.endswith("\u200d")
            or 0xFE00 <= code <= 0xFE0F  # variation selectors
            or 0x1F3FB <= code <= 0x1F3FF  # skin tones
            or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
            or (0x1F1E6 <= code <= 0x1F1FF and regional % 2 == 1)
        )
        regional = regional + 1 if 0x1F1E6 <= code <= 0x1F1FF else 0
        if joins:
            cluster += char
        else:
            if cluster:
                yield cluster
            cluster = char
    if cluster:
        yield cluster


# --- packing --------------------------------------------------------------------------------


def _pack(units: list[_Unit], budget: int, overlap: int) -> Iterator[tuple[str, int]]:
    """Greedily fill chunks up to budget; start each next chunk with the previous tail."""
    current: list[_Unit] = []
    total = 0
    fresh = 0  # units in `current` that no earlier chunk emitted
    for unit in units:
        if current and total + unit.tokens > budget:
            yield _join(current), total
            tail = _tail(current, overlap)
            while tail and sum(u.tokens for u in tail) + unit.tokens > budget:
                tail = tail[1:]
            current, total = tail, sum(u.tokens for u in tail)
            fresh = 0
        current.append(unit)
        total += unit.tokens
        fresh += 1
    if current and fresh:
        yield _join(current), total


def _tail(units: list[_Unit], overlap: int) -> list[_Unit]:
    tail: list[_Unit] = []
    size = 0
    for unit in reversed(units[1:]):  # never the whole chunk again
        if size + unit.tokens > overlap:
            break
        tail.insert(0, unit)
        size += unit.tokens
    return tail


def _join(units: list[_Unit]) -> str:
    text = units[0].text
    for unit in units[1:]:
        text += unit.sep + unit.text
    return text.strip()


def _clip_tokens(text: str, limit: int, count: Callable[[str], int]) -> str:
    """text cut between grapheme clusters (with an ellipsis) to at most `limit` tokens."""
    if not text or count(text) <= limit:
        return text
    clusters = list(graphemes(text))
    low, high = 0, len(clusters)
    while low < high:  # the longest prefix whose clipped form fits
        mid = (low + high + 1) // 2
        if count("".join(clusters[:mid]).rstrip() + "…") <= limit:
            low = mid
        else:
            high = mid - 1
    return "".join(clusters[:low]).rstrip() + "…" if low else ""


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    clusters = list(graphemes(text))
    out = ""
    for cluster in clusters:
        if len(out) + len(cluster) > limit - 1:
            break
        out += cluster
    return out + "…"
