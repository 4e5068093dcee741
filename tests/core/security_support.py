"""Helpers shared by the security and session tests (not a conftest: imported explicitly)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from core.clock import FrozenClock
from core.config import Settings
from core.context import AppContext, use_context
from core.security import Key, KeyRing

ROOT = Path(__file__).resolve().parents[2]


def add_key(context: AppContext) -> Key:
    """Generate a key and make it the primary of the context's key file."""
    return context.keys.generate(write=True).key


@contextmanager
def keyed_context(settings: Settings, start: datetime) -> Iterator[tuple[AppContext, FrozenClock]]:
    """A current context on a FrozenClock with a key; its Mongo database is dropped after."""
    clock = FrozenClock(start)
    ctx = AppContext(settings, clock=clock)
    with use_context(ctx):
        add_key(ctx)
        yield ctx, clock
    if settings.database.uri is not None and "database" in ctx.__dict__:
        ctx.database.client.drop_database(settings.database.name)
    ctx.close()


def ring_of(*keys: Key) -> KeyRing:
    return KeyRing(list(keys))


def run_python(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter that sees only the given ABBY_* variables."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    full.update(env)
    full["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=os.getcwd(),
    )


def spawn_python(code: str, env: dict[str, str]) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    full.update(env)
    full["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )


def corrupt_message(context: AppContext, session_id: str, seq: int) -> None:
    """Flip one character of a stored message's ciphertext, behind the service's back."""
    [message] = [m for m in context.sessions._repo.messages(session_id) if m.seq == seq]
    position = len(message.token) // 2
    flipped = "A" if message.token[position] != "A" else "B"
    token = message.token[:position] + flipped + message.token[position + 1 :]
    db = context.database
    if db.backend == "sqlite":
        db.connection().execute(
            "UPDATE session_messages SET content = ? WHERE session_id = ? AND seq = ?",
            (token, session_id, seq),
        )
    else:
        db.collection("session_messages").update_one(
            {"session_id": session_id, "seq": seq}, {"$set": {"content": token}}
        )


def stored_tokens(context: AppContext, session_id: str) -> list[tuple[int, str, str]]:
    return [(m.seq, m.key_id, m.token) for m in context.sessions._repo.messages(session_id)]
