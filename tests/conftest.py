"""Shared fixtures: both database backends, an isolated data dir, and the CLI in-process.

Every test that asks for `context` (or `settings`, `backend_env`) runs twice: on SQLite in a
temporary data dir, and on MongoDB through the real pymongo driver — against the mongoeco wire
server started here on 127.0.0.1, or a real server when ABBY_TEST_MONGODB_URI is set. Each
MongoDB test gets its own database name, so tests never see each other's documents.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.context import AppContext, use_context

ROOT = Path(__file__).resolve().parent.parent
# The MongoDB variant of a test is `slow`: the stand-in server costs about a second per test
# (a fresh database, every domain's indexes), so the inner loop runs each contract on SQLite
# and the full suite on both.
BACKENDS = ["sqlite", pytest.param("mongo", marks=pytest.mark.slow)]
# One reason for every skipped MongoDB test: mongoeco, the stand-in server, needs CPython 3.13.
MONGO_SKIP_REASON = (
    "MongoDB tests need the mongoeco stand-in (CPython 3.13+) or a real server in "
    "ABBY_TEST_MONGODB_URI"
)


def pytest_report_header(config: pytest.Config) -> list[str]:
    import sqlite3

    import pymongo

    real = os.environ.get("ABBY_TEST_MONGODB_URI")
    if real:
        against = "a real MongoDB (ABBY_TEST_MONGODB_URI)"
    elif importlib.util.find_spec("mongoeco") is not None:
        against = "the mongoeco wire server"
    else:
        against = f"nothing: skipped ({MONGO_SKIP_REASON})"
    return [
        f"abby backends: sqlite {sqlite3.sqlite_version}, pymongo {pymongo.version} against "
        f"{against}"
    ]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config, keys or home directory."""
    for name in list(os.environ):
        if name.startswith("ABBY_") and name not in ("ABBY_TEST_MONGODB_URI", "ABBY_DEBUG"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # The user config and data dirs (platformdirs) then fall under that HOME too.
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    # No context leaks from one test into the next through core.context.current().
    monkeypatch.setattr("core.context._current", None)


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB URI: the real server from ABBY_TEST_MONGODB_URI, or a mongoeco wire server."""
    real = os.environ.get("ABBY_TEST_MONGODB_URI")
    if real:
        yield real
        return
    if importlib.util.find_spec("mongoeco") is None:
        pytest.skip(MONGO_SKIP_REASON)
    path = tmp_path_factory.mktemp("mongoeco") / "wire.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mongo_server", "--db", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("URI "):
        process.kill()
        pytest.fail(f"the mongoeco wire server did not start: {line!r}")
    try:
        yield line.split(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Backend:
    """What a test (or a worker process it spawns) needs to reach the same store."""

    name: str
    env: dict[str, str]

    def settings(self, **overrides: object) -> Settings:
        return load_settings(environ=self.env, overrides=overrides or None)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    env = {"ABBY_DATA_DIR": str(tmp_path / "data")}
    if request.param != "mongo":
        yield Backend(request.param, env)
        return
    uri = request.getfixturevalue("mongo_uri")
    name = f"t{uuid.uuid4().hex[:16]}"
    env["ABBY_DATABASE__URI"] = uri
    env["ABBY_DATABASE__NAME"] = name
    yield Backend(request.param, env)
    # Drop what the test (or the processes it ran) left: the stand-in slows as its one file
    # grows, so without this the suite's last MongoDB tests ran 5-7x slower than its first.
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=2000)
    try:
        client.drop_database(name)
    except pymongo.errors.PyMongoError:
        pass
    finally:
        client.close()


@pytest.fixture
def backend_env(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The backend's variables, also set in this process's environment (for the CLI)."""
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    return dict(backend.env)


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return backend.settings()


@pytest.fixture
def context(settings: Settings) -> Iterator[AppContext]:
    """An open application context on the test's backend, made current for the seed API."""
    ctx = AppContext(settings)
    with use_context(ctx):
        yield ctx
    if settings.database.uri is not None and "database" in ctx.__dict__:
        ctx.database.client.drop_database(settings.database.name)
    ctx.close()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"exit={self.exit_code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def json(self) -> object:
        import json

        return json.loads(self.stdout)


# The `cli` fixture: run `abby ARGS` in this process and get what it printed and its exit code.
Cli = Callable[..., CliResult]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """Run `abby ARGS` in this process (fresh CLI state each call); returns a CliResult."""
    from abby_cli import runtime
    from abby_cli.main import main

    def run(*args: str) -> CliResult:
        runtime.reset()
        capsys.readouterr()
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:
            code = 0
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    yield run
    runtime.close()


def run_abby(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
    """Run the installed-style CLI as a separate process (python -m abby_cli.main)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    full_env.update(env or {})
    process = subprocess.run(
        [sys.executable, "-m", "abby_cli.main", *args],
        cwd=os.getcwd(),
        env={**full_env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliResult(process.returncode, process.stdout, process.stderr)
