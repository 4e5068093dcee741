"""Issue #9, finding 2: the key file is rewritten under a cross-process lock, so concurrent
generate, rotate and retire lose no key and every message written meanwhile decrypts.

Five processes on one data dir: three run `abby keys generate --write --json` (the real CLI
command, in-process, several times each), one rotates and retires every key that protects
nothing, one appends session messages throughout. Before the lock, three generators lost
about a quarter of their keys and retire raced the writer into undecryptable messages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_settings
from core.context import AppContext
from core.errors import KeyInUse
from tests.core.security_support import ROOT

GENERATORS = 3
KEYS_EACH = 8


def _start(mode: str, argument: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.keys_worker", mode, argument],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _documents(process: subprocess.Popen[str], timeout: float) -> list[dict]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"worker failed ({process.returncode}):\n{out}\n{err}"
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.slow
def test_concurrent_generate_rotate_retire_lose_no_key_and_every_message_decrypts(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    env.update({"ABBY_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)})
    context = AppContext(load_settings(environ={"ABBY_DATA_DIR": str(data)}))
    first = context.keys.generate(write=True).id
    stop = tmp_path / "stop"

    writer = _start("write", str(stop), env)
    churner = _start("churn", str(stop), env)
    generators = [_start("generate", str(KEYS_EACH), env) for _ in range(GENERATORS)]
    try:
        generated = {first}
        for process in generators:
            for document in _documents(process, timeout=120):
                generated.add(document["generated"])
    finally:
        stop.touch()
    retired = {d["retired"] for d in _documents(churner, timeout=120)}
    [written] = _documents(writer, timeout=120)

    assert len(generated) == 1 + GENERATORS * KEYS_EACH
    in_file = {k.id for k in context.keys.source.file_keys()}
    lost = generated - retired - in_file
    assert not lost, f"{len(lost)} of {len(generated)} keys lost; retired {len(retired)}"
    assert retired <= generated and not (retired & in_file)
    assert retired, "the churner never retired a key: the test did not exercise retire"

    sessions = written["sessions"]
    total = sum(len(contents) for contents in sessions.values())
    assert total > 100, f"only {total} messages were written during the run"
    transcripts = {sid: context.sessions.transcript(sid) for sid in sessions}
    undecryptable = sum(len(t.undecryptable) for t in transcripts.values())
    assert undecryptable == 0, f"{undecryptable} of {total} messages no longer decrypt"
    for session_id, contents in sessions.items():
        assert [m.content for m in transcripts[session_id].messages] == contents
    assert not set(context.keys.counts()) & retired, "a retired key still protects records"
    context.close()


@pytest.mark.slow
def test_a_retire_waits_for_a_message_being_stored_under_the_key_it_removes(
    tmp_path: Path,
) -> None:
    """A writer has encrypted under key A and not stored yet; meanwhile B is generated, the
    records rotated and A retired. Without the writers' shared lock A was gone when the
    message landed under it: undecryptable forever. With it, generate waits for the writer."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    env.update({"ABBY_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)})
    context = AppContext(load_settings(environ={"ABBY_DATA_DIR": str(data)}))
    key_a = context.keys.generate(write=True).id
    go = tmp_path / "go"
    writer = _start("paused", str(go), env)
    assert writer.stdout is not None
    session_id = json.loads(writer.stdout.readline())["encrypted"]

    generator = _start("generate", "1", env)
    try:
        generator.wait(timeout=3)
        generated_before_store = True  # it did not wait for the writer: the old behaviour
    except subprocess.TimeoutExpired:
        generated_before_store = False
    if not generated_before_store:
        go.touch()  # let the writer store; the generator gets the lock after it
    key_b = _documents(generator, timeout=60)[0]["generated"]
    context.keys.rotate()
    retired = True
    try:
        context.keys.retire(key_a)
    except KeyInUse:
        retired = False
    go.touch()
    assert _documents(writer, timeout=60)[-1] == {"stored": session_id}

    transcript = context.sessions.transcript(session_id)
    assert transcript.undecryptable == [], (
        f"the message was stored under retired key {key_a} (retired={retired})"
    )
    assert [m.content for m in transcript.messages] == ["written during a retire"]
    assert not generated_before_store, "generate did not wait for the writer's shared lock"
    assert context.keys.ring().ids == (key_b,) and retired
    context.close()
