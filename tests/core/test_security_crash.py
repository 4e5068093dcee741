"""`abby keys rotate` killed with SIGKILL halfway; a second run completes, nothing is lost or
duplicated, and every message decrypts under the primary key alone.

20,000 messages on SQLite. On MongoDB the stand-in server (mongoeco) slows linearly with
collection size (a few hundred writes/s at most here), so that side uses 400 messages.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from core.context import AppContext
from tests.conftest import Backend
from tests.core.security_support import add_key, ring_of, spawn_python

PER_SESSION = 500
ROTATE = "from abby_cli.main import main; main(['keys', 'rotate', '--yes', '--batch-size', '{n}'])"


@pytest.mark.slow
def test_rotation_killed_halfway_finishes_on_the_next_run_without_loss_or_duplication(
    context: AppContext, backend: Backend
) -> None:
    total = 400 if backend.name == "mongo" else 20_000
    per_session = min(PER_SESSION, total // 4)
    batch = 20 if backend.name == "mongo" else 250
    add_key(context)
    expected: dict[str, list[str]] = {}
    for s in range(total // per_session):
        sid = context.sessions.create(f"u{s}", "c1", "g1")
        contents = [f"m{s}-{i}" for i in range(per_session)]
        context.sessions.append_many(sid, [("user", c) for c in contents])
        expected[sid] = contents
    key_b = add_key(context)
    assert context.keys.counts() == {context.keys.ring().ids[1]: total}

    worker = spawn_python(ROTATE.format(n=batch), backend.env)
    killed_at = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and worker.poll() is None:
        done = context.keys.counts().get(key_b.id, 0)
        if done >= total // 3:
            os.kill(worker.pid, signal.SIGKILL)
            killed_at = done
            break
        time.sleep(0.01)
    worker.communicate(timeout=60)
    assert worker.returncode == -signal.SIGKILL, "the rotation ended before it could be killed"
    counts = context.keys.counts()
    assert 0 < counts.get(key_b.id, 0) < total, counts
    assert sum(counts.values()) == total
    assert killed_at > 0

    second = spawn_python(ROTATE.format(n=batch), backend.env)
    _, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert context.keys.counts() == {key_b.id: total}

    ring_b = ring_of(key_b)
    repo = context.sessions._repo
    for sid, contents in expected.items():
        stored = repo.messages(sid)
        assert [m.seq for m in stored] == list(range(1, per_session + 1))
        assert [ring_b.decrypt(m.token, m.key_id).decode() for m in stored] == contents
