"""One JSON conversion for the CLI's --json and a member's data export."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from core.jsonable import to_jsonable
from core.users.privacy import export_json


class Colour(enum.Enum):
    RED = "red"


@dataclass(frozen=True)
class Row:
    at: datetime
    where: Path
    tags: frozenset[str]


def test_results_become_plain_json_values_recursively() -> None:
    value = {
        "row": Row(datetime(2026, 3, 1, 12, tzinfo=UTC), Path("/srv/a.png"), frozenset({"x"})),
        "day": date(2026, 3, 1),
        "colour": Colour.RED,
        "raw": b"caf\xc3\xa9 \xff",
        "pair": (1, {2}),
        3: None,
    }
    assert to_jsonable(value) == {
        "row": {"at": "2026-03-01T12:00:00+00:00", "where": "/srv/a.png", "tags": ["x"]},
        "day": "2026-03-01",
        "colour": "red",
        "raw": "café \ufffd",
        "pair": [1, [2]],
        "3": None,
    }


def test_the_export_file_and_the_cli_json_read_the_same() -> None:
    from abby_cli import output

    assert output.to_jsonable is to_jsonable  # one function, not two copies drifting apart
    document = {"exported_at": datetime(2026, 3, 1, tzinfo=UTC), "path": Path("a/b"),
                "set": {"only"}, "kind": Colour.RED}  # fmt: skip
    assert json.loads(export_json(document)) == to_jsonable(document)
    assert export_json(document).endswith(b"}\n")


def test_an_export_refuses_a_value_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        export_json({"what": object()})
