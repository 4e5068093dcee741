"""`abby init`: first-run set-up that cron, systemd and a shell then all find."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

ABBY = str(Path(sys.executable).parent / "abby")


def _env(home: Path, **extra: str) -> dict[str, str]:
    """An environment like cron's: HOME and PATH only (plus what a test adds)."""
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", **extra}


def _abby(
    *args: str, home: Path, cwd: Path, stdin: str = "", timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [ABBY, *args],
        cwd=cwd,
        env=_env(home, **extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_no_prompt_writes_an_owner_only_config_key_and_schema_in_the_user_dirs(
    home: Path, tmp_path: Path
) -> None:
    done = _abby("init", "--no-prompt", "--skip-model", "--json", home=home, cwd=tmp_path / "a")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    config = home / ".config" / "abby" / "config.yaml"
    data = home / ".local" / "share" / "abby"
    assert (result["config_file"], result["data_dir"]) == (str(config), str(data))
    assert result["backend"] == "sqlite" and result["key_created"] is True
    assert result["schema"]["bank"] >= 1 and result["schema"]["users"] >= 1
    assert _mode(config) == 0o600 and _mode(config.parent) == 0o700
    assert _mode(data / "keys") == 0o600 and _mode(data) == 0o700
    assert f"data_dir: {data}" in config.read_text()
    assert result["abby"] == ABBY
    assert result["cron"][2] == (
        f"0 5 * * *    {ABBY} --config {config} bank audit --json >> {home / 'abby-cron.log'} 2>&1"
    )
    assert f"ExecStart={ABBY} --config {config} bot run" in result["systemd_unit"]
    assert not (tmp_path / "a" / "data").exists() and not (tmp_path / "a" / "config.yaml").exists()
    # From any other directory, with nothing but HOME, the CLI finds that set-up.
    audit = _abby("bank", "audit", "--json", home=home, cwd=tmp_path / "b")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    shown = _abby("config", "show", "--json", home=home, cwd=tmp_path / "b")
    assert json.loads(shown.stdout)["sources"] == {
        "config_file": "the user config dir",
        "data_dir": f"data_dir in {config}",
    }


@pytest.mark.slow
def test_a_second_init_is_refused_without_force_and_force_keeps_the_key(
    home: Path, tmp_path: Path
) -> None:
    first = _abby("init", "--no-prompt", "--skip-model", home=home, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    config = home / ".config" / "abby" / "config.yaml"
    key = home / ".local" / "share" / "abby" / "keys"
    config_before, key_before = config.read_bytes(), key.read_bytes()
    other = tmp_path / "other-data"
    again = _abby(
        "init", "--no-prompt", "--skip-model", "--data-dir", str(other), home=home, cwd=tmp_path
    )
    assert again.returncode == 4, again.stderr
    assert "set-up exists already" in again.stderr and "--force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert config.read_bytes() == config_before and not other.exists()
    forced = _abby("init", "--no-prompt", "--skip-model", "--force", home=home, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert key.read_bytes() == key_before, "--force must never replace the encryption key"


def test_the_interactive_prompts_take_answers_and_hide_the_token(
    home: Path, tmp_path: Path
) -> None:
    data = tmp_path / "srv" / "abby"
    answers = f"{data}\n\nsecret.token.value\n"
    done = _abby("init", "--skip-model", home=home, cwd=tmp_path, stdin=answers)
    assert done.returncode == 0, done.stderr
    assert "Data directory" in done.stderr and "MongoDB URI" in done.stderr
    assert "secret.token.value" not in done.stdout + done.stderr
    config = home / ".config" / "abby" / "config.yaml"
    text = config.read_text()
    assert f"data_dir: {data}" in text and "token: secret.token.value" in text
    assert _mode(config) == 0o600
    assert (data / "abby.db").is_file()
    # Loosened, the file with the token is refused as ssh refuses a readable key.
    os.chmod(config, 0o644)
    refused = _abby("bank", "audit", home=home, cwd=tmp_path)
    assert refused.returncode == 78, refused.stderr
    assert f"chmod 600 {config}" in refused.stderr and "secret.token" not in refused.stderr


def test_init_without_a_terminal_or_answers_aborts_and_writes_nothing(
    home: Path, tmp_path: Path
) -> None:
    done = _abby("init", "--skip-model", home=home, cwd=tmp_path, stdin="")
    assert done.returncode != 0
    assert not (home / ".config").exists() and not (home / ".local").exists()


def test_a_config_path_given_with_config_is_where_init_writes(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "etc" / "abby.yaml"
    done = _abby(
        "--config", str(config), "init", "--no-prompt", "--skip-model",
        "--data-dir", "rel-data", home=home, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"data_dir: {tmp_path / 'rel-data'}" in config.read_text(), "made absolute"
    assert not (home / ".config").exists()


def test_a_mongodb_uri_is_checked_and_its_database_set_up(
    home: Path, tmp_path: Path, mongo_uri: str
) -> None:
    import uuid

    import pymongo

    name = f"t{uuid.uuid4().hex[:16]}"
    done = _abby(
        "init", "--no-prompt", "--skip-model", "--mongodb-uri", mongo_uri,
        "--database-name", name, "--json", home=home, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["backend"] == "mongo"
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=4000)
    try:
        assert client[name]["schema_versions"].count_documents({}) >= 5
    finally:
        client.drop_database(name)
        client.close()


@pytest.mark.slow
def test_an_unreachable_mongodb_is_exit_75_quickly_and_writes_nothing(
    home: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    done = _abby(
        "init", "--no-prompt", "--skip-model", "--mongodb-uri", "mongodb://127.0.0.1:9/",
        home=home, cwd=tmp_path,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 75, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert elapsed < 3 + 4, f"took {elapsed:.1f}s"
    assert not (home / ".config").exists() and not (home / ".local").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--mongodb-uri", "postgres://x"], "mongodb://"),
        (["--data-dir", str(ROOT / "README.md")], "not a directory"),
        (["--data-dir", "/tmp/100%-abby"], "holds a % or a control character"),
        (["--docs", "/srv/docs\n* * * * * rm -rf ~"], "holds a % or a control character"),
    ],
)
def test_bad_init_input_is_exit_2_in_one_line(
    home: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    done = _abby("init", "--no-prompt", "--skip-model", *args, home=home, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (home / ".config").exists()


@pytest.mark.slow
def test_init_then_the_readme_quick_start_works_offline_from_a_bare_environment(
    home: Path,
) -> None:
    """The README's first commands on a fresh machine: set up, ingest ./docs, ask."""
    block = (ROOT / "README.md").read_text(encoding="utf-8").split("```sh\n", 1)[1]
    commands = block.split("```", 1)[0].strip().splitlines()
    assert commands[1] == ".venv/bin/abby init --no-prompt", commands
    # Any download attempt would go through a dead proxy: the quick start must need none.
    offline = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
               "HF_HUB_OFFLINE": "1"}  # fmt: skip
    for command in commands[1:]:
        done = subprocess.run(
            ["/bin/sh", "-c", command.replace(".venv/bin/abby", ABBY)],
            cwd=ROOT, env=_env(home, **offline), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert "docs/keys.md" in done.stdout, done.stdout
    assert (home / ".local" / "share" / "abby" / "models").is_dir()


def test_paths_with_spaces_are_quoted_so_the_printed_cron_line_still_works(
    home: Path, tmp_path: Path
) -> None:
    config = tmp_path / "my config" / "abby.yaml"
    done = _abby(
        "--config", str(config), "init", "--no-prompt", "--skip-model", "--json",
        "--data-dir", str(tmp_path / "my data"), home=home, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    audit_line = result["cron"][2]
    assert f"--config '{config}'" in audit_line
    assert f'--config "{config}" bot run' in result["systemd_unit"]
    command = audit_line.split(None, 5)[5]
    ran = subprocess.run(
        ["/usr/bin/env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", "/bin/sh", "-c", command],
        cwd=home, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert '"ok": true' in (home / "abby-cron.log").read_text()
