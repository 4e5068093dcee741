"""Issue #11: no NaN, infinity or other non-JSON value reaches events.jsonl."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

from core.telemetry.events import EventLog


def _strict(line: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(line, parse_constant=refuse)


def test_non_finite_numbers_are_written_as_null_and_the_file_stays_strict_json(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    assert log.emit(
        "heartbeat",
        {
            "latency_ms": math.nan,
            "peak": math.inf,
            "low": -math.inf,
            "nested": {"lag": [1.5, math.nan], "when": datetime(2026, 1, 1, tzinfo=UTC)},
            "ok": 12.5,
        },
    )
    line = path.read_text().splitlines()[0]
    payload = _strict(line)["payload"]
    assert payload["latency_ms"] is None and payload["peak"] is None and payload["low"] is None
    assert payload["nested"]["lag"] == [1.5, None]
    assert payload["nested"]["when"].startswith("2026-01-01")
    assert payload["ok"] == 12.5
    assert [e["payload"]["ok"] for e in log.tail(1)] == [12.5]
