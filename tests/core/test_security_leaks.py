"""No secret and no message content reaches a log file, a telemetry file, or a log record.

Every test here runs a realistic story (keys, sessions, dumps, rotation, bad input, crashes of
input validation) with the CLI at -vv, and registers its data dir and the secrets and contents
it used. The last test of the module greps every file under each registered data dir's logs/
and telemetry/, and every log record captured during the module, for all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.context import AppContext
from core.security import PasswordHasher
from tests.conftest import CliResult, run_abby
from tests.core.security_support import add_key, corrupt_message

DATA_DIRS: list[Path] = []
SECRETS: set[str] = set()
RECORDS: list[str] = []


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        RECORDS.append(text)


@pytest.fixture(scope="module", autouse=True)
def capture_every_log_record() -> Iterator[None]:
    handler = _Capture(level=logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    yield
    root.removeHandler(handler)


def remember(data_dir: Path, *values: str) -> None:
    DATA_DIRS.append(data_dir)
    SECRETS.update(values)
    keys = data_dir / "keys"
    if keys.exists():
        for line in keys.read_text().splitlines():
            if line and not line.startswith("#"):
                SECRETS.add(line.split(":", 1)[1])


Cli = Callable[..., CliResult]  # the `cli` fixture: runs `abby ARGS` in this process


def story(cli: Cli, context: AppContext, env: dict[str, str], tag: str) -> None:
    data_dir = Path(env["ABBY_DATA_DIR"])
    logging.getLogger().setLevel(logging.DEBUG)
    assert cli("-vv", "keys", "generate", "--write").exit_code == 0
    contents = [f"{tag} my card number is 4111-1111-{i:04d}" for i in range(3)]
    summary = f"{tag} summary: the user confided a secret"
    sid = context.sessions.create("u1", "c1", "g1")
    context.sessions.append_many(sid, [("user", c) for c in contents])
    context.sessions.close(sid, summary)
    corrupt_message(context, sid, 2)
    assert cli("-vv", "keys", "generate", "--write").exit_code == 0
    assert cli("-vv", "keys", "rotate", "--yes").exit_code == 4  # the tampered one is left
    assert cli("-vv", "keys", "status", "--json").exit_code == 0
    assert cli("-vv", "session", "dump", sid, "-o", str(data_dir.parent / "t.md")).exit_code == 0
    assert cli("-vv", "session", "list").exit_code == 0
    # A separate process with the CLI at debug level, logging to the same data dir.
    result = run_abby("-vv", "session", "dump", sid, "--json", env=env)
    assert result.exit_code == 0, result.output
    assert cli("-vv", "session", "purge", "--older-than", "0s", "--yes").exit_code == 0
    # Bad input on the way: none of it may echo a secret either.
    assert cli("-vv", "session", "dump", "nope").exit_code == 3
    password = f"{tag}-hunter2-" + "p" * 60  # over 72 bytes
    with pytest.raises(ValueError) as caught:
        PasswordHasher(rounds=4).hash(password)
    assert password not in str(caught.value)
    sid2 = context.sessions.create("u2", "c1", None)
    with pytest.raises(ValueError) as caught:
        context.sessions.append(
            sid2, "user", f"{tag} bad bytes \udcff".encode("utf-8", "surrogateescape")
        )
    assert "bad bytes" not in str(caught.value)
    remember(data_dir, *contents, summary, password, f"{tag} bad bytes")


@pytest.mark.slow
def test_a_full_story_on_the_backend(
    cli: Cli, backend_env: dict[str, str], context: AppContext
) -> None:
    story(cli, context, backend_env, "story")


def test_keys_from_the_environment_stay_out_of_logs(
    cli: Cli,
    backend_env: dict[str, str],
    context: AppContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.security import generate_key

    key = generate_key().decode()
    monkeypatch.setenv("ABBY_ENCRYPTION_KEYS", key)
    context.init_schema()  # `keys status` reads a set-up store; it never creates one
    status = cli("-vv", "keys", "status", "--json")
    assert status.exit_code == 0 and key not in status.stdout
    bad = f"{key[:20]}-broken-{key[20:]}"
    monkeypatch.setenv("ABBY_ENCRYPTION_KEYS", bad)
    refused = cli("-vv", "keys", "rotate", "--yes")
    assert refused.exit_code == 78 and bad not in refused.output
    remember(Path(backend_env["ABBY_DATA_DIR"]), key, bad)


@pytest.mark.slow
def test_zz_no_secret_or_content_in_any_log_or_telemetry_file(
    cli: Cli, backend_env: dict[str, str], context: AppContext
) -> None:
    add_key(context)
    story(cli, context, backend_env, "final")
    files = [
        path
        for data_dir in DATA_DIRS
        for sub in ("logs", "telemetry")
        for path in (data_dir / sub).rglob("*")
        if path.is_file()
    ]
    assert any(p.parent.name == "logs" for p in files) and any(
        p.parent.name == "telemetry" for p in files
    ), files
    assert len(SECRETS) >= 10 and RECORDS
    leaks = [
        (str(path), secret[:12])
        for path in files
        for secret in SECRETS
        if secret in path.read_text(encoding="utf-8", errors="replace")
    ]
    leaks += [("log record", s[:12]) for text in RECORDS for s in SECRETS if s in text]
    assert not leaks
