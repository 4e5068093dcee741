"""Boilerplate: template lines that many of a scope's documents share, dropped before chunking.

Reference pages repeat navigation, licence and "report bugs to" lines on every page; in the
corpus studied for issue #12 half of all non-blank lines were such template lines, and they
crowded real content out of chunks and became some pages' lead. A line counts as template
when more than `SHARE` of a scope's documents (and at least `MIN_DOCUMENTS`) hold it,
compared with each document's own title masked, so "ls - list directory contents" and
"cp - copy files" share the template "<title> - ...". At 20% template lines survived in that
study; 5-10% removed them without losing content.

Each document's line keys (a short hash of the normalised line) are kept in the document
store beside its record, outside its content hash, so an unchanged file still re-ingests as
unchanged while the table stays exact as documents come and go. Headings and fenced code are
never dropped: a heading names its section and code is content even when it repeats.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

SHARE = 0.08
MIN_DOCUMENTS = 5
# Every document stores this key too, so the scope's document count is one indexed count.
DOCUMENT_KEY = "*"
# Line keys kept per document: a 10 MB log file must not write a million rows.
MAX_KEYS_PER_DOCUMENT = 4096
MIN_LINE_CHARS = 3

_HEADING = re.compile(r"^#{1,6}[ \t]")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")


def threshold(documents: int) -> int:
    """How many of `documents` must share a line for it to be template."""
    return max(MIN_DOCUMENTS, int(documents * SHARE) + 1)


def document_keys(title: str, text: str) -> set[str]:
    """The keys of a document's droppable lines, plus DOCUMENT_KEY."""
    keys = {DOCUMENT_KEY}
    mask = _title_mask(title)
    for line in _prose_lines(text):
        key = _key(line, mask)
        if key is not None:
            keys.add(key)
            if len(keys) > MAX_KEYS_PER_DOCUMENT:
                break
    return keys


def strip_template(title: str, text: str, template: set[str]) -> str:
    """text without its template lines (headings and fenced code kept)."""
    if not template:
        return text
    mask = _title_mask(title)
    out: list[str] = []
    in_fence = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        fence = bool(_FENCE.match(line))
        if fence:
            in_fence = not in_fence
        if not fence and not in_fence and not _HEADING.match(line):
            key = _key(line, mask)
            if key is not None and key in template:
                continue
        out.append(line)
    return "\n".join(out)


def _prose_lines(text: str) -> Iterator[str]:
    in_fence = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence and not _HEADING.match(line):
            yield line


def _title_mask(title: str) -> re.Pattern[str] | None:
    title = " ".join(title.split()).casefold()
    if not title:
        return None
    # Whole words only: a page titled "ls" must not mask the "ls" inside "else".
    return re.compile(r"(?<!\w)" + re.escape(title) + r"(?!\w)")


def _key(line: str, mask: re.Pattern[str] | None) -> str | None:
    normal = " ".join(line.split()).casefold()
    if len(normal) < MIN_LINE_CHARS:
        return None
    if mask is not None:
        normal = mask.sub("\0", normal)
    return hashlib.blake2b(normal.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
