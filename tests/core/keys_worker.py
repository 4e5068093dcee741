"""Worker processes for the key-file concurrency test (tests/core/test_keys_concurrency.py).

    python -m tests.core.keys_worker generate N      # N x `abby keys generate --write --json`
    python -m tests.core.keys_worker churn STOPFILE  # rotate and retire until STOPFILE exists
    python -m tests.core.keys_worker write STOPFILE  # append session messages until STOPFILE
    python -m tests.core.keys_worker paused GOFILE   # one message, paused after encrypting

Each prints one JSON document per line on stdout: {"generated": id}, {"retired": id},
{"sessions": {session id: [contents]}} at the end of `write`. The environment
(ABBY_DATA_DIR) says which store to open.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path

from core.config import load_settings
from core.context import AppContext
from core.errors import KeyInUse, UnknownKey


def emit(document: object) -> None:
    print(json.dumps(document), flush=True)


def generate(count: int) -> None:
    """Run the real CLI command in this process, `count` times."""
    from abby_cli import runtime
    from abby_cli.main import main

    for _ in range(count):
        runtime.reset()
        out = io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out):
            try:
                main(["keys", "generate", "--write", "--json"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        if code != 0:
            emit({"error": code, "output": out.getvalue()})
            sys.exit(code)
        emit({"generated": json.loads(out.getvalue())["id"]})
    runtime.reset()


def churn(stop: Path) -> None:
    """Rotate onto the primary, then retire every other key that protects nothing."""
    context = AppContext(load_settings())
    while True:
        last = stop.exists()
        context.keys.rotate(batch_size=50)
        for key_id in context.keys.ring().ids[1:]:
            try:
                context.keys.retire(key_id)
            except (KeyInUse, UnknownKey):
                continue  # a message landed under it after the rotation, or it is gone
            emit({"retired": key_id})
        if last:
            break
        time.sleep(0.01)
    context.close()


def write(stop: Path) -> None:
    """Append short messages to a series of sessions until told to stop."""
    context = AppContext(load_settings())
    sessions: dict[str, list[str]] = {}
    session_id = ""
    n = 0
    while not stop.exists() or n == 0:
        if n % 40 == 0:
            session_id = context.sessions.create(f"u{n}", "c1", "g1")
            sessions[session_id] = []
        content = f"message {n}"
        context.sessions.append(session_id, "user", content)
        sessions[session_id].append(content)
        n += 1
    emit({"sessions": sessions})
    context.close()


def paused(go: Path) -> None:
    """Append one message, pausing between its encryption and its store until GOFILE exists:
    the window in which a retire could remove the key the message is encrypted under."""
    context = AppContext(load_settings())
    session_id = context.sessions.create("u1", "c1", "g1")
    repo = context.sessions._repo
    store = repo.append

    def slow_append(*args: object, **kwargs: object) -> object:
        emit({"encrypted": session_id})
        while not go.exists():
            time.sleep(0.01)
        return store(*args, **kwargs)

    repo.append = slow_append  # type: ignore[method-assign]
    context.sessions.append(session_id, "user", "written during a retire")
    emit({"stored": session_id})
    context.close()


def main() -> None:
    mode, argument = sys.argv[1], sys.argv[2]
    if mode == "generate":
        generate(int(argument))
    elif mode == "churn":
        churn(Path(argument))
    elif mode == "write":
        write(Path(argument))
    elif mode == "paused":
        paused(Path(argument))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
