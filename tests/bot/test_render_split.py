"""Long answers split into Discord-sized parts: on boundaries, never inside a code block."""

from __future__ import annotations

import random
import re

import pytest

from bot.render import close_open_fence, split_message

FENCE = re.compile(r"^\s*```", re.M)


def _balanced(part: str) -> bool:
    return len(FENCE.findall(part)) % 2 == 0


def _words(text: str) -> list[str]:
    return [w for w in text.split() if not w.startswith("```")]


def test_short_text_is_one_part() -> None:
    assert split_message("  hello there  ") == ["hello there"]


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    first = "First paragraph. " * 60  # ~1,020 characters
    second = "Second paragraph. " * 60
    parts = split_message(f"{first}\n\n{second}")
    assert parts == [first.strip(), second.strip()]


def test_a_long_paragraph_is_cut_after_a_sentence() -> None:
    text = " ".join(f"Sentence number {n} says something." for n in range(200))
    parts = split_message(text)
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert _words(" ".join(parts)) == _words(text)


def test_one_unbroken_word_longer_than_a_part_is_cut_hard() -> None:
    parts = split_message("x" * 4500)
    assert [len(p) for p in parts] == [2000, 2000, 500]


def test_a_code_block_that_fits_moves_whole_to_the_next_part() -> None:
    prose = "Some words before the code. " * 50  # ~1,400 characters
    code = "```python\n" + "\n".join(f"value_{n} = {n}" for n in range(60)) + "\n```"
    parts = split_message(f"{prose}\n{code}\nAfter the code.")
    assert len(parts) == 2
    assert parts[0] == prose.strip()
    assert parts[1].startswith("```python\n") and parts[1].endswith("After the code.")
    assert all(_balanced(p) for p in parts)


def test_a_code_block_longer_than_a_part_is_closed_and_reopened() -> None:
    code = "```python\n" + "\n".join(f"line_{n} = '{'y' * 30}'" for n in range(200)) + "\n```"
    parts = split_message(f"Here is the file:\n{code}\nThat is all.")
    assert len(parts) >= 4
    assert all(len(p) <= 2000 for p in parts)
    assert all(_balanced(p) for p in parts), [p[-40:] for p in parts]
    assert all(p.startswith("```python\n") for p in parts[1:-1])
    assert parts[-1].endswith("That is all.")
    lines = [ln for p in parts for ln in p.splitlines() if ln.startswith("line_")]
    assert lines == [f"line_{n} = '{'y' * 30}'" for n in range(200)]  # none lost, in order


@pytest.mark.parametrize("seed", range(20))
def test_random_answers_always_fit_and_keep_every_code_block_intact(seed: int) -> None:
    rng = random.Random(seed)
    pieces = []
    for _ in range(rng.randint(5, 30)):
        if rng.random() < 0.3:
            body = "\n".join(
                "    " + " ".join(rng.choice(["x", "foo()", "return", "=", "1"]) for _ in range(8))
                for _ in range(rng.randint(1, 120))
            )
            pieces.append(f"```py\n{body}\n```")
        else:
            words = [rng.choice(["alpha", "beta.", "gamma!", "delta,", "eps?"]) for _ in range(200)]
            pieces.append(" ".join(words))
    text = "\n\n".join(pieces)
    parts = split_message(text)
    assert all(0 < len(p) <= 2000 for p in parts)
    assert all(_balanced(p) for p in parts)
    assert _words(" ".join(parts)) == _words(text)


def test_a_streaming_reply_with_an_open_block_is_shown_closed() -> None:
    assert close_open_fence("look:\n```py\nx = 1") == "look:\n```py\nx = 1\n```"
    assert close_open_fence("done\n```py\nx\n```") == "done\n```py\nx\n```"
    assert close_open_fence("plain") == "plain"
