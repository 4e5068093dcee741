"""Every numeric option is bounded: a huge value is exit 2 with one line, never an
OverflowError (exit 1) from deep inside (issue #9, finding 9).
"""

from __future__ import annotations

import pytest
import typer
from typer._click import core as click_core
from typer._typing import get_args

HUGE = "9" * 20  # past 2**63 - 1
PAST_INT64 = str(2**63)

# Numeric parameters the core validates itself (with its own one-line error), each covered
# by a row of HUGE_VALUES below.
CHECKED_BY_THE_CORE = {
    ("rag", "query", "top_k"),
    ("rag", "query", "min_score"),
    ("image", "generate", "seed"),
    ("image", "edit", "seed"),
    ("image", "edit", "strength"),
    ("image", "upscale", "scale"),
}


def _numeric_parameters() -> list[tuple[tuple[str, ...], object]]:
    from abby_cli.main import app

    root = typer.main.get_command(app)
    ctx = click_core.Context(root)
    found = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), (*path, name))
            return
        for param in command.params:
            annotation = param.type_descriptor.annotation
            counted = getattr(param, "count", False)  # -vvv style flags; arguments have none
            if {annotation, *get_args(annotation)} & {int, float} and not counted:
                found.append(((*path, param.name), param))

    walk(root, ())
    return found


def test_every_numeric_option_is_bounded_before_use() -> None:
    params = _numeric_parameters()
    assert len(params) >= 15, "the walk over the command tree found too few numeric options"
    unbounded = [
        " ".join(path)
        for path, param in params
        if path not in CHECKED_BY_THE_CORE and (param.min is None or param.max is None)
    ]
    assert unbounded == [], f"numeric options without min and max: {unbounded}"
    # Nothing the bounds let through overflows a signed 64-bit integer.
    assert all(param.max is None or param.max <= 2**63 - 1 for _, param in params), [
        " ".join(p) for p, param in params if param.max is not None and param.max > 2**63 - 1
    ]


HUGE_VALUES = [
    (("session", "purge", "--older-than", "99999999999d", "--yes"), "36,500 days"),
    (("session", "purge", "--older-than", "9" * 40 + "d", "--yes"), "not a duration"),
    (("session", "purge", "--older-than", "1e20", "--yes"), "not a duration"),
    (("bank", "recover", "--older-than", "1e300"), "--older-than"),
    (("bank", "recover", "--older-than", "1e400"), "--older-than"),
    (("bank", "recover", "--older-than", "nan"), "--older-than"),
    (("telemetry", "tail", "-n", HUGE), "--lines"),
    (("xp", "leaderboard", "-n", HUGE), "--limit"),
    (("bank", "history", "u1", "-n", HUGE), "--limit"),
    (("session", "list", "-n", HUGE), "--limit"),
    (("storage", "list", "u1", "-n", HUGE), "--limit"),
    (("storage", "usage", "--top", HUGE), "--top"),
    (("storage", "quota", "u1", "--level", PAST_INT64), "--level"),
    (("image", "generate", "a cat", "--user", "u1", "--level", PAST_INT64), "--level"),
    (("image", "generate", "a cat", "--user", "u1", "--seed", HUGE), "seed"),
    (("rag", "query", "x", "--top-k", HUGE), "top_k"),
    (("rag", "query", "x", "--min-score", "1e400"), "min_score"),
    (("rag", "eval", "cases.jsonl", "--k", HUGE), "--k"),
    (("ask", "hello", "--top-k", HUGE), "--top-k"),
    (("keys", "rotate", "--batch-size", HUGE, "--yes"), "--batch-size"),
    (("bank", "add", "u1", HUGE, "--reason", "r"), "maximum"),
    (("bank", "add", "u1", "9" * 5000, "--reason", "r"), "not a whole number"),
    (("bank", "transfer", "u1", "u2", HUGE), "maximum"),
    (("xp", "add", "u1", HUGE), "maximum"),
    (("xp", "settings", "cooldown_seconds", HUGE), "cooldown_seconds"),
]


@pytest.mark.parametrize(("args", "needle"), HUGE_VALUES, ids=lambda v: " ".join(v)[:50])
def test_a_huge_number_is_exit_2_with_one_line(cli, backend_env, args, needle) -> None:  # noqa: ANN001
    assert cli("db", "init").exit_code == 0  # a set-up store: readers refuse a missing one (78)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr, result.output
    assert "Overflow" not in result.stderr and "Traceback" not in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.output


def test_huge_values_change_nothing(cli, backend_env) -> None:  # noqa: ANN001
    assert cli("bank", "add", "u1", "100", "--reason", "seed").exit_code == 0
    assert cli("bank", "transfer", "u1", "u2", HUGE).exit_code == 2
    assert cli("bank", "balance", "u1", "--json").json()["balance"] == 100
