"""Chunking: split a document along its structure into pieces that fit the model's window.

A document is cut at its Markdown headings into sections; a section into blocks (paragraphs,
list runs, fenced code); a block that is too long into sentences; a sentence that is too long
into words; a word run that is still too long (CJK has no spaces) into grapheme clusters, so
no character, combining mark or emoji sequence is ever cut in half. Pieces are packed greedily
into chunks of at most `chunk_tokens` tokens and a chunk repeats the tail of the previous one
(up to `overlap_tokens`) when both belong to the same section.

Each chunk is embedded with its document title and section heading in front (see
`embedding_text`), and the budget leaves room for them inside the 256-token window.
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


@dataclass(frozen=True)
class Chunk:
    """One piece of a document: its text, section heading, position and token count."""

    index: int
    text: str
    heading: str
    tokens: int


@dataclass(frozen=True)
class _Unit:
    text: str
    sep: str  # what joined it to the previous unit in the source
    tokens: int


def embedding_text(title: str, heading: str, text: str) -> str:
    """The text actually embedded for a chunk: title and heading give it context."""
    head = _clip(title, MAX_TITLE_CHARS)
    if heading:
        head += "\n" + _clip(heading, MAX_HEADING_CHARS)
    return f"{head}\n\n{text}" if head else text


def chunk_document(
    title: str,
    text: str,
    *,
    count_tokens: Callable[[str], int],
    chunk_tokens: int = 200,
    overlap_tokens: int = 32,
) -> list[Chunk]:
    """Split `text` into chunks; [] when it holds nothing but whitespace.

    `count_tokens` is the embedder's (WordPiece tokens without special tokens). Chunk texts
    are exact substrings-with-separators of the source: nothing is normalised or dropped
    except runs of blank lines between blocks.
    """
    if overlap_tokens >= chunk_tokens:
        overlap_tokens = chunk_tokens // 4
    chunks: list[Chunk] = []
    for heading, blocks in _sections(text.replace("\r\n", "\n").replace("\r", "\n"), title):
        prefix = count_tokens(embedding_text(title, heading, "")) + 2  # + the blank line
        budget = max(MIN_BUDGET, min(chunk_tokens, WINDOW_TOKENS - prefix))
        units = list(_units(blocks, budget, count_tokens))
        for body, tokens in _pack(units, budget, min(overlap_tokens, budget // 2)):
            chunks.append(Chunk(index=len(chunks), text=body, heading=heading, tokens=tokens))
    return chunks


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
