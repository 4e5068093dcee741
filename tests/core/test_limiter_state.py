"""Issue #9, finding 2 (small state files): the image limiter's state file is replaced
atomically under its lock, so a process that dies while saving leaves the previous state.

Before, the file was truncated in place and then written: a crash between the two left it
empty, and an empty file reads as "no lockout", so after a 429 every process went on
calling the API and stretched Stability's 60 s block.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.images.limiter import RateLimiter
from tests.core.security_support import ROOT

# The child dies inside json.dumps, which runs while the state is being saved.
CRASH_WHILE_SAVING = """
import json, os, sys
from pathlib import Path
from core.images.limiter import RateLimiter

limiter = RateLimiter(requests=5, window_seconds=10, lockout_seconds=60,
                      state_file=Path(sys.argv[1]))
json.dumps = lambda *a, **k: os._exit(137)
limiter.lock_out(300)
"""


def test_a_process_killed_while_saving_the_limiter_state_keeps_the_lockout(
    tmp_path: Path,
) -> None:
    state = tmp_path / "images" / "rate_limit.json"
    limiter = RateLimiter(requests=5, window_seconds=10, lockout_seconds=60, state_file=state)
    limiter.lock_out()
    before = state.read_bytes()

    env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    child = subprocess.run(
        [sys.executable, "-c", CRASH_WHILE_SAVING, str(state)],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 137, child.stderr

    assert state.read_bytes() == before, "the state file was torn by the crash"
    assert 50 < limiter.locked_for() <= 60
    assert json.loads(state.read_text())["locked_until"] > 0
    leftovers = sorted(p.name for p in state.parent.iterdir())
    assert leftovers == ["rate_limit.json", "rate_limit.json.lock"]
    assert (state.stat().st_mode & 0o777) == 0o600
    assert (state.with_name("rate_limit.json.lock").stat().st_mode & 0o777) == 0o600
