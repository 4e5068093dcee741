"""Lexical search beside the vectors: query terms, and reciprocal-rank fusion with the dense list.

Dense vectors find paraphrases; they are poor at exact names (a command, a setting such as
`storage.root`, an environment variable such as `ABBY_DATA_DIR`, a flag such as
`--older-than`), which a word index finds at once. The index lives in the document store of
the backend (SQLite FTS5, a MongoDB text index) beside the document records, one row per
chunk; `parse_query` turns a question into its terms, and `fuse` merges the two rankings by
reciprocal rank (Cormack et al., 2009), which needs no score calibration between them.

A query of stop words only, of emoji or punctuation has no terms: the lexical side is then
skipped and the dense side answers alone. With hybrid search off (the default), a query that
names something exactly (`LexicalQuery.exact`) is still fused with the word index: paraphrased
questions stay dense-only, where fusion costs MRR, and names are found by their spelling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Bounds what a 2,000-character query costs the index: its first distinct terms only.
MAX_TERMS = 32
MAX_PHRASES = 8
# The usual constant of reciprocal-rank fusion: a document's rank matters, not its score.
RRF_K = 60

# Letters and digits; "_" separates, as FTS5's unicode61 tokenizer and MongoDB split words.
_WORD = re.compile(r"[^\W_]+")
# An identifier: words joined by . _ - : / (storage.root, ABBY_DATA_DIR, --older-than).
_IDENTIFIER = re.compile(r"(?:--?)?[^\W_]+(?:[._\-:/]+[^\W_]+)+|--[^\W_]+")

_EXACT = re.compile(r"^--[^\W\d_]|[^\W\d_][._][^\W_]|[^\W_][._][^\W\d_]")

STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me might more most must my myself no nor not now of off on once only or other
    our ours ourselves out over own same she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves get got make made use using used want way one thing things
    """.split()
)


@dataclass(frozen=True)
class LexicalQuery:
    """The terms of a query (lower case, stop words out) and its identifiers as phrases."""

    terms: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]
    identifiers: tuple[str, ...] = ()  # as written: a server tokenizes them its own way

    @property
    def exact(self) -> bool:
        """Whether the query names something exactly: a word joined to another by "." or
        "_" (storage.root, ABBY_DATA_DIR) or a "--flag". Hyphenated words (real-time) and
        "1.5" do not count: paraphrases hold them too."""
        return any(_EXACT.search(name) for name in self.identifiers)

    def __bool__(self) -> bool:
        return bool(self.terms or self.phrases)

    def fts5(self) -> str:
        """An FTS5 MATCH expression: any term or phrase (OR), every token quoted.

        Quoting each token makes the user's text data, never FTS5 syntax: no column filters,
        NEAR, NOT or prefix stars reach the index from a query.
        """
        parts = [_quote(" ".join(phrase)) for phrase in self.phrases]
        parts += [_quote(term) for term in self.terms]
        return " OR ".join(parts)

    def text_searches(self) -> list[str]:
        """MongoDB `$text.$search` strings, most specific first.

        One per identifier, quoted: a phrase MongoDB must match, split by the server as it
        split the indexed text, so only passages holding that name match. Then one of every
        identifier and term unquoted (any may match). MongoDB's text score counts matches
        without weighing rare words over common ones, hence the separate exact searches,
        whose hits rank first. Quotes and a leading "-" (negation) come out of user text.
        """
        names = [i.strip("-").replace('"', "") for i in self.identifiers]
        broad = " ".join([*names, *(t.replace('"', "") for t in self.terms)]).strip()
        return [f'"{name}"' for name in names if name] + ([broad] if broad else [])


def parse_query(text: str) -> LexicalQuery:
    """Terms and identifier phrases of a query, bounded (MAX_TERMS, MAX_PHRASES)."""
    phrases: list[tuple[str, ...]] = []
    identifiers: list[str] = []
    for match in _IDENTIFIER.finditer(text):
        words = tuple(w.casefold() for w in _WORD.findall(match.group(0)))
        if len(words) > 1 and words not in phrases:
            phrases.append(words)
            identifiers.append(match.group(0))
        if len(phrases) >= MAX_PHRASES:
            break
    terms: list[str] = []
    for word in _WORD.findall(text):
        term = word.casefold()
        if term in STOP_WORDS or term in terms or (len(term) == 1 and not term.isdigit()):
            continue
        terms.append(term)
        if len(terms) >= MAX_TERMS:
            break
    return LexicalQuery(tuple(terms), tuple(phrases), tuple(identifiers))


def fuse(*rankings: Sequence[str], k: int = RRF_K) -> list[str]:
    """Ids ordered by reciprocal-rank fusion of the rankings (best first; ties: first seen)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


__all__ = ["MAX_TERMS", "STOP_WORDS", "LexicalQuery", "fuse", "parse_query"]
