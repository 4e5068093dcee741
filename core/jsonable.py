"""Plain JSON values from Abby's results, one conversion for every output.

The CLI's `--json` documents and a member's data export (`core.users.privacy.export_json`,
the same bytes from `abby user export` and the bot's `/privacy export`) both go through
`to_jsonable`, so a datetime or a path never reads differently in one of them.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any


def to_jsonable(value: Any) -> Any:  # noqa: ANN401 - any result goes in
    """Turn results (dataclasses, mappings, sequences and sets, datetimes, paths, enums,
    bytes) into plain JSON values, recursively; anything else is returned as it is (and
    `json.dumps` refuses it if it is not JSON)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
