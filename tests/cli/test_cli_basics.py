"""The CLI skeleton as an operator meets it: help, --json, exit codes, one-line errors."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, Backend, Cli, CliResult, run_abby

HEAVY = ("chromadb", "openai", "discord", "pymongo", "onnxruntime", "numpy", "httpx")


@pytest.mark.parametrize("argv", [["--help"], ["config", "show"], ["xp", "--help"]])
def test_help_and_config_show_import_nothing_heavy(argv: list[str], tmp_path: Path) -> None:
    script = (
        "import sys, runpy; sys.argv = ['abby', *sys.argv[1:]]\n"
        "from abby_cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *argv],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "HEAVY=\n" in result.stderr, result.stderr


def test_version_and_help(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("abby ")
    result = cli("--help")
    assert result.exit_code == 0
    for group in ("config", "db", "doctor", "user", "telemetry", "bot"):
        assert group in result.stdout


def test_no_arguments_shows_help_and_exits_2(cli: Cli) -> None:
    result = cli()
    assert result.exit_code == 2
    assert "Usage" in result.stderr


def test_usage_error_is_exit_2_with_one_line(cli: Cli) -> None:
    result = cli("user", "show", "1", "--bogus")
    assert result.exit_code == 2, result.output
    assert "No such option" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_with_json_is_an_error_document(cli: Cli) -> None:
    result = cli("telemetry", "tail", "--json", "-n", "zero")
    assert result.exit_code == 2, result.output
    assert result.json()["error"]["code"] == "usage"


def test_doctor_json_reports_each_check(cli: Cli, backend_env: dict[str, str]) -> None:
    assert cli("db", "init").exit_code == 0  # doctor checks a set-up; it never makes one
    result = cli("doctor", "--json")
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in result.json()}
    assert {"config", "data_dir", "database", "chroma_server", "llm", "stability"} <= set(checks)
    assert checks["database"]["status"] == "ok"
    assert checks["llm"]["status"] == "warn" and "unconfigured" in checks["llm"]["detail"]
    assert all(set(c) == {"name", "status", "detail"} for c in checks.values())


def test_doctor_reports_an_unreachable_configured_service(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("rag:\n  chroma_url: http://127.0.0.1:9\n")
    assert cli("--config", str(config), "db", "init").exit_code == 0
    result = cli("--config", str(config), "doctor", "--json")
    assert result.exit_code == 0, result.output
    chroma = next(c for c in result.json() if c["name"] == "chroma_server")
    assert chroma["status"] == "warn" and "unreachable" in chroma["detail"]


def test_user_set_and_show_round_trip(cli: Cli, backend_env: dict[str, str]) -> None:
    from core.context import current

    current().users.upsert("77", "kim", guild_id="g1")
    result = cli("user", "set", "77", "pronouns", "she/her", "--guild", "g1", "--json")
    assert result.exit_code == 0, result.output
    assert result.json()["pronouns"] == "she/her"
    shown = cli("user", "show", "77", "--guild", "g1", "--json").json()
    assert (shown["user_id"], shown["guild_id"], shown["pronouns"]) == ("77", "g1", "she/her")


def test_user_set_refuses_a_field_outside_the_whitelist(
    cli: Cli, backend_env: dict[str, str]
) -> None:
    from core.context import current

    current().users.upsert("77", "kim")
    result = cli("user", "set", "77", "xp", "999999")
    assert result.exit_code == 2, result.output
    assert "cannot be updated" in result.stderr
    assert result.stderr.count("\n") == 1


def test_unknown_user_is_exit_3_and_json_error(cli: Cli, backend_env: dict[str, str]) -> None:
    assert cli("db", "init").exit_code == 0
    result = cli("user", "show", "404", "--json")
    assert result.exit_code == 3
    assert result.json() == {
        "error": {"code": "unknown_user", "message": "no profile for user 404 in the global scope"}
    }


def test_db_init_and_status_report_schema_and_counts(
    cli: Cli, backend_env: dict[str, str], backend: Backend
) -> None:
    assert cli("db", "init").exit_code == 0
    status = cli("db", "status", "--json").json()
    assert status["backend"] == backend.name
    assert status["schema"]["users"] >= 1
    assert "users" in status["tables"]


def test_config_show_masks_secrets(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABBY_DISCORD__TOKEN", "very-secret-token-123")
    for args in (("config", "show"), ("config", "show", "--json")):
        result = cli(*args)
        assert result.exit_code == 0
        assert "very-secret-token-123" not in result.stdout
    data = cli("config", "show", "--json").json()
    assert data["discord"]["token"] == "**********"


def test_telemetry_tail_filters_by_type(cli: Cli, backend_env: dict[str, str]) -> None:
    from core.context import current

    events = current().events
    events.emit("heartbeat", {"n": 1})
    events.emit("error", {"error_type": "X"})
    events.emit("heartbeat", {"n": 2})
    rows = cli("telemetry", "tail", "-n", "5", "--type", "heartbeat", "--json").json()
    assert [r["payload"]["n"] for r in rows] == [1, 2]


def test_telemetry_follow_streams_new_events(tmp_path: Path) -> None:
    from core.config import load_settings
    from core.telemetry.events import EventLog

    env = {"ABBY_DATA_DIR": str(tmp_path / "data")}
    log = EventLog.from_settings(load_settings(environ=env))
    log.emit("ping", {"n": 0})
    process = subprocess.Popen(
        [sys.executable, "-m", "abby_cli.main", "telemetry", "tail", "--follow", "--json"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env},
        stdout=subprocess.PIPE,
        text=True,
    )

    # A reader thread, not select(): lines already buffered by the pipe's reader would be
    # invisible to select and the test would wait for data it already has.
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()

    def next_event() -> dict:
        return json.loads(lines.get(timeout=60))

    try:
        # The tail comes first: once it is out, the follower is watching the file.
        assert next_event()["payload"] == {"n": 0}
        log.emit("ping", {"n": 7})
        assert next_event()["payload"] == {"n": 7}
        log.emit("ping", {"n": 8})
        assert next_event()["payload"] == {"n": 8}
    finally:
        process.kill()
        process.wait()


# --- bad input as a new user would try it: one line, the documented code, no traceback ------


def _one_clear_line(result: CliResult, code: int, needle: str) -> None:
    assert result.exit_code == code, result.output
    assert needle in result.stderr, result.output
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.output


def test_malformed_yaml_is_exit_78(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("database: {uri: [\n")
    _one_clear_line(run_abby("doctor"), 78, "malformed YAML")


def test_unknown_key_is_exit_78(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("xp:\n  colldown: 3\n")
    _one_clear_line(run_abby("db", "status"), 78, "unknown key xp.colldown")


def test_wrong_type_is_exit_78(tmp_path: Path) -> None:
    _one_clear_line(
        run_abby("db", "status", env={"ABBY_XP__COOLDOWN_SECONDS": "soon"}),
        78,
        "xp.cooldown_seconds",
    )


@pytest.mark.slow
def test_unreachable_mongodb_fails_within_5_seconds_with_exit_75() -> None:
    started = time.monotonic()
    result = run_abby("db", "status", env={"ABBY_DATABASE__URI": "mongodb://127.0.0.1:9/"})
    elapsed = time.monotonic() - started
    _one_clear_line(result, 75, "unreachable")
    assert elapsed < 5 + 2.5, f"took {elapsed:.1f}s (interpreter start-up included)"


def test_unwritable_data_dir_is_exit_78(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory")
    result = run_abby("db", "status", env={"ABBY_DATA_DIR": str(tmp_path / "blocker" / "data")})
    _one_clear_line(result, 78, "data")


def test_unwritable_log_dir_is_exit_78(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    result = run_abby("db", "status", env={"ABBY_LOGGING__DIR": str(tmp_path / "blocker" / "x")})
    _one_clear_line(result, 78, "cannot write logs")


def test_unexpected_failure_shows_traceback_only_when_verbose(
    cli: Cli, backend_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug (not a typed error) inside a command: exit 1, one line, the traceback on -v.
    # (A corrupt abby.db used to be the example; it is a typed error now, exit 78.)
    assert cli("db", "init").exit_code == 0

    def broken(self: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("core.context.AppContext.status", broken)
    quiet = cli("db", "status")
    assert quiet.exit_code == 1, quiet.output
    assert "unexpected RuntimeError: a bug" in quiet.stderr and "Traceback" not in quiet.stderr
    loud = cli("-v", "db", "status")
    assert loud.exit_code == 1 and "Traceback" in loud.stderr


def test_shell_completion_reaches_the_lazily_built_groups(tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "_ABBY_COMPLETE": "complete_bash"}
    for words, cword, expected in (("abby ban", "1", "bank"), ("abby xp lea", "2", "leaderboard")):
        result = subprocess.run(
            [sys.executable, "-m", "abby_cli.main"],
            env={**env, "COMP_WORDS": words, "COMP_CWORD": cword},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.stdout.split() == [expected], result.stdout + result.stderr
