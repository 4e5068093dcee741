"""Telemetry and logging: whole JSON lines, ordered ids, rotation, and never a raise."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from core import telemetry
from core.context import AppContext
from core.errors import ConfigError
from core.telemetry.events import EventLog, new_event_id
from core.telemetry.logs import setup_logging

ROOT = Path(__file__).resolve().parents[2]


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_event_has_schema_id_type_timestamp_and_payload(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    event_id = log.emit("heartbeat", {"uptime_seconds": 3})
    [event] = read_events(tmp_path / "events.jsonl")
    assert event["id"] == event_id
    assert event["schema"] == 1
    assert event["type"] == "heartbeat"
    assert event["ts"].endswith("Z")
    assert event["payload"] == {"uptime_seconds": 3}


def test_event_ids_are_unique_and_time_ordered() -> None:
    ids = [new_event_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids[:10])


def test_seed_emitters_write_through_the_current_context(context: AppContext) -> None:
    telemetry.emit_heartbeat(12.5, 3, 1)
    telemetry.emit_error("Timeout", "the image API timed out", "retried")
    telemetry.emit_governance_event("keys.rotate", {"records": 10, "content": "secret chat"})
    events = context.events.tail(10)
    assert [e["type"] for e in events] == ["heartbeat", "error", "governance.keys.rotate"]
    assert events[0]["payload"]["active_sessions"] == 3
    assert events[1]["payload"]["recovery_action"] == "retried"
    assert events[2]["payload"] == {"records": 10, "content": "[redacted]"}


def test_emitting_to_an_unwritable_path_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    log = EventLog(blocker / "events.jsonl")
    with caplog.at_level(logging.WARNING):
        assert log.emit("a") is None
        assert log.emit("b") is None
    assert sum("telemetry disabled" in r.message for r in caplog.records) == 1


def test_events_rotate_by_size_and_tail_reads_across_files(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", max_bytes=4096, backup_count=3)
    for index in range(100):
        log.emit("tick", {"n": index, "pad": "x" * 100})
    assert (tmp_path / "events.jsonl.1").exists()
    assert not (tmp_path / "events.jsonl.4").exists()
    assert all(p.stat().st_size <= 4096 for p in log.files())
    recent = log.tail(5)
    assert [e["payload"]["n"] for e in recent] == [95, 96, 97, 98, 99]


def test_configured_secrets_are_scrubbed_from_events(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.jsonl", secrets=["sk-live-abcdef123456"])
    log.emit("error", {"error_message": "auth failed for sk-live-abcdef123456"})
    assert "sk-live" not in (tmp_path / "e.jsonl").read_text()


def test_processes_appending_at_once_keep_every_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    script = (
        "import sys; from core.telemetry.events import EventLog; "
        "log = EventLog(sys.argv[1], max_bytes=200_000, backup_count=20); "
        "[log.emit('w', {'i': i, 'pad': 'y' * 300}) for i in range(400)]"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=ROOT) for _ in range(4)
    ]
    assert all(w.wait(timeout=60) == 0 for w in workers)
    log = EventLog(path, backup_count=20)
    events = list(log.read())
    assert len(events) == 1600
    assert len({e["id"] for e in events}) == 1600


def test_log_file_is_json_lines_with_secrets_redacted(tmp_path: Path) -> None:
    from core.config import load_settings

    settings = load_settings(environ={"ABBY_DISCORD__TOKEN": "discord-token-value-123"})
    setup_logging("INFO", tmp_path / "logs", settings=settings)
    try:
        logger = logging.getLogger("abby.test")
        logger.info("connecting with discord-token-value-123 and Bearer abcdefghijklmnop")
        logger.warning("uri mongodb://root:pw@host/db")
        try:
            raise RuntimeError("boom with discord-token-value-123")
        except RuntimeError:
            logger.exception("failed")
    finally:
        setup_logging("WARNING", None)
    text = (tmp_path / "logs" / "abby.log").read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["level"] for r in records] == ["INFO", "WARNING", "ERROR"]
    assert "discord-token-value-123" not in text
    assert "abcdefghijklmnop" not in text
    assert "root:pw" not in text
    assert "RuntimeError" in records[2]["exc"]


def test_unwritable_log_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot write logs"):
        setup_logging("INFO", blocker / "logs")
    setup_logging("WARNING", None)


def test_follow_yields_the_tail_then_everything_appended_after_it(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", max_bytes=4096, backup_count=5)
    for index in range(3):
        log.emit("tick", {"n": index})
    stream = log.follow(last=2, poll_seconds=0.01)
    assert [next(stream)["payload"]["n"] for _ in range(2)] == [1, 2]
    # Appended between the tail and the next read, and across a rotation: none lost.
    for index in range(3, 40):
        log.emit("tick", {"n": index, "pad": "z" * 40})
    assert (tmp_path / "events.jsonl.1").exists()
    assert not (tmp_path / "events.jsonl.2").exists()
    seen: list[int] = []
    reader = threading.Thread(
        target=lambda: seen.extend(next(stream)["payload"]["n"] for _ in range(3, 40)),
        daemon=True,
    )
    reader.start()
    reader.join(timeout=20)
    assert seen == list(range(3, 40))


# A child writes one event, then dies halfway through writing the next (a crash or a full
# disk mid-write): the file ends in half a line with no newline.
DIE_MID_LINE = """
import os, sys
from pathlib import Path
from core.telemetry import events

log = events.EventLog(Path(sys.argv[1]))
log.emit("before", {"n": 1})
real_write = os.write

def torn_write(fd, data):
    real_write(fd, data[: len(data) // 2])
    os._exit(137)

events.os.write = torn_write
log.emit("torn", {"n": 2})
"""


def test_an_event_after_a_writer_died_mid_line_is_not_glued_to_the_torn_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    child = subprocess.run(
        [sys.executable, "-c", DIE_MID_LINE, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 137, child.stderr
    assert not path.read_bytes().endswith(b"\n")

    log = EventLog(path)
    after = log.emit("after", {"n": 3})
    assert [e["type"] for e in log.read()] == ["before", "after"]
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["id"] == after
    log.emit("later", {"n": 4})
    assert [e["type"] for e in log.read()] == ["before", "after", "later"]


def test_the_reader_keeps_an_event_glued_to_a_torn_line(tmp_path: Path) -> None:
    """Files written before the writer ended torn lines hold a fragment and a whole event
    on one line; the reader skips the fragment, not the event after it."""
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    for name in ("first", "second", "third"):
        log.emit(name)
    first, second, third = path.read_text().splitlines()
    path.write_text(f"{first}\n{second[:25]}{second}\n{{not json\n{third}\n")
    assert [e["type"] for e in log.read()] == ["first", "second", "third"]
    assert [e["type"] for e in log.tail(2)] == ["second", "third"]
