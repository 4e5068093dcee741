"""Where the data lives: one rule for a shell, cron and systemd, and readers that never create.

The config file is `--config`, else $ABBY_CONFIG, else ./config.yaml, else the user config dir;
the data dir is the config's `data_dir`, else $ABBY_DATA_DIR, else the user data dir. A command
that only reads or maintains exits 78 where there is no Abby data, naming the place and the
rule that chose it, and creates nothing (it once audited a fresh empty store and said ok).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from abby_cli.runtime import CREATES_STORE
from tests.conftest import Cli

# Commands that only read or maintain, with the arguments they need to reach the store.
READERS = [
    ("bank", "audit"),
    ("bank", "balance", "u1"),
    ("storage", "cleanup", "--yes"),
    ("storage", "usage"),
    ("session", "purge", "--yes"),
    ("session", "list"),
    ("rag", "stats"),
    ("rag", "query", "how do I rotate keys?"),
    ("rag", "verify"),
    ("keys", "status"),
    ("keys", "rotate", "--yes"),
    ("db", "status"),
    ("xp", "leaderboard"),
    ("telemetry", "tail"),
]


def _user_data(tmp_path: Path) -> Path:
    return tmp_path / "home" / ".local" / "share" / "abby"  # HOME is tmp_path/home


def _files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.mark.parametrize("args", READERS, ids=[" ".join(a[:2]) for a in READERS])
def test_a_reader_with_no_data_exits_78_naming_the_user_data_dir_and_creates_nothing(
    cli: Cli, tmp_path: Path, args: tuple[str, ...]
) -> None:
    before = _files_under(tmp_path)
    result = cli(*args, "--json")
    assert result.exit_code == 78, result.output
    message = result.json()["error"]["message"]
    if args[:2] == ("keys", "rotate"):  # the key ring is read first; it names the path too
        assert f"writes {_user_data(tmp_path) / 'keys'}" in message, message
    else:
        assert f"no Abby data in {_user_data(tmp_path)} (the user data dir;" in message
        assert "abby init" in message
    assert _files_under(tmp_path) == before, "a read-only command created files"


def test_the_no_data_line_names_abby_data_dir_when_the_environment_chose(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABBY_DATA_DIR", "relative/data")
    result = cli("bank", "audit")
    assert result.exit_code == 78, result.output
    assert f"no Abby data in {tmp_path / 'relative' / 'data'} (ABBY_DATA_DIR;" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "relative").exists()


def test_the_config_files_data_dir_wins_over_abby_data_dir(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cron has no environment: a shell's ABBY_DATA_DIR must not send it somewhere else."""
    config = tmp_path / "etc" / "config.yaml"
    config.parent.mkdir()
    config.write_text("data_dir: ../srv/abby\n")
    monkeypatch.setenv("ABBY_DATA_DIR", str(tmp_path / "elsewhere"))
    result = cli("--config", str(config), "storage", "cleanup", "--yes")
    assert result.exit_code == 78, result.output
    expected = f"no Abby data in {tmp_path / 'srv' / 'abby'} (data_dir in {config};"
    assert expected in result.stderr, result.output
    assert not (tmp_path / "srv").exists() and not (tmp_path / "elsewhere").exists()


def test_a_writer_creates_the_store_in_the_user_data_dir_and_readers_then_find_it(
    cli: Cli, tmp_path: Path
) -> None:
    assert cli("xp", "add", "u1", "40").exit_code == 0
    assert (_user_data(tmp_path) / "abby.db").is_file()
    assert not (tmp_path / "data").exists(), "nothing may land in the current directory"
    board = cli("xp", "leaderboard", "--json")
    assert board.exit_code == 0, board.output
    assert [row["user_id"] for row in board.json()] == ["u1"]
    assert cli("bank", "audit", "--json").exit_code == 0


def test_a_reader_on_an_existing_store_works_on_both_backends(
    cli: Cli, backend_env: dict[str, str]
) -> None:
    assert cli("db", "init").exit_code == 0
    result = cli("bank", "audit", "--json")
    assert result.exit_code == 0, result.output
    assert result.json()["ok"] is True


def test_a_reader_on_a_mongodb_database_never_set_up_exits_78_and_creates_it_not(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mongo_uri: str
) -> None:
    import uuid

    import pymongo

    name = f"t{uuid.uuid4().hex[:16]}"
    monkeypatch.setenv("ABBY_DATABASE__URI", mongo_uri)
    monkeypatch.setenv("ABBY_DATABASE__NAME", name)
    monkeypatch.setenv("ABBY_DATA_DIR", str(tmp_path / "data"))
    result = cli("bank", "audit", "--json")
    assert result.exit_code == 78, result.output
    assert "no Abby data in MongoDB" in result.json()["error"]["message"]
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=4000)
    try:
        # Asked of this database alone: the stand-in's listDatabases trips over other tests'
        # databases ("$bsonSize cannot encode value of type BsonInt32").
        assert client[name].list_collection_names() == []
    finally:
        client.close()
    assert cli("db", "init").exit_code == 0
    assert cli("bank", "audit", "--json").exit_code == 0


def test_the_config_file_rule_prefers_cwd_then_the_user_config_dir(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_config = tmp_path / "home" / ".config" / "abby" / "config.yaml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text(f"data_dir: {tmp_path / 'from-user-config'}\n")
    shown = cli("config", "show", "--json").json()
    assert shown["config_file"] == str(user_config)
    assert shown["sources"] == {
        "config_file": "the user config dir",
        "data_dir": f"data_dir in {user_config}",
    }
    assert shown["data_dir"] == str(tmp_path / "from-user-config")
    (tmp_path / "config.yaml").write_text("rag:\n  top_k: 7\n")
    shown = cli("config", "show", "--json").json()
    assert shown["sources"]["config_file"] == "./config.yaml in the current directory"
    assert shown["data_dir"] == str(_user_data(tmp_path))  # that file names no data_dir
    other = tmp_path / "other.yaml"
    other.write_text("rag:\n  top_k: 3\n")
    monkeypatch.setenv("ABBY_CONFIG", str(other))
    assert cli("config", "show", "--json").json()["sources"]["config_file"] == "ABBY_CONFIG"


def test_doctor_names_the_data_dir_and_config_in_use_and_why(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "abby.yaml"
    config.write_text(f"data_dir: {tmp_path / 'd'}\n")
    missing = {c["name"]: c for c in cli("--config", str(config), "doctor", "--json").json()}
    assert missing["data_dir"]["status"] == "fail"
    detail = missing["data_dir"]["detail"]
    assert f"{tmp_path / 'd'} (data_dir in {config}) does not exist" in detail
    assert not (tmp_path / "d").exists(), "doctor only looks"
    assert cli("--config", str(config), "db", "init").exit_code == 0
    result = cli("--config", str(config), "doctor", "--json")
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in result.json()}
    assert checks["config"]["detail"] == f"valid: {config} (--config)"
    assert checks["data_dir"]["detail"] == f"{tmp_path / 'd'} (data_dir in {config}) is writable"


@pytest.mark.parametrize(
    "text", ["discord:\n  token: abc.def\n", "database:\n  uri: mongodb://u:pw@127.0.0.1:9/\n"]
)
def test_a_secret_in_a_config_file_others_can_read_is_refused_with_the_chmod(
    cli: Cli, tmp_path: Path, text: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    os.chmod(config, 0o644)
    result = cli("config", "show")
    assert result.exit_code == 78, result.output
    assert f"chmod 600 {config}" in result.stderr and "0644" in result.stderr, result.output
    assert "abc.def" not in result.output and "pw" not in result.stderr.replace("path", "")
    os.chmod(config, 0o600)
    assert cli("config", "show").exit_code == 0


def test_a_config_file_without_secrets_may_be_readable_by_others(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("database:\n  uri: mongodb://127.0.0.1:9/\nrag:\n  top_k: 4\n")
    os.chmod(config, 0o644)
    assert cli("config", "show").exit_code == 0


def test_the_list_of_commands_that_may_create_a_store_names_real_commands() -> None:
    """A renamed command must not silently fall out of (or into) the writers' list."""
    import typer
    from typer._click import core as click_core

    from abby_cli.main import app

    known: set[str] = set()

    root = typer.main.get_command(app)
    ctx = click_core.Context(root)

    def walk(command: object, path: tuple[str, ...]) -> None:
        if not hasattr(command, "list_commands"):
            known.add(" ".join(path))
            return
        for name in command.list_commands(ctx):
            walk(command.get_command(ctx, name), (*path, name))

    walk(root, ())
    assert CREATES_STORE <= known, CREATES_STORE - known
    assert "bank audit" not in CREATES_STORE and "storage cleanup" not in CREATES_STORE
    assert {"init", "xp rewards add", "chat"} <= known


@pytest.mark.parametrize("with_config", [False, True], ids=["cwd", "beside-config"])
def test_data_in_the_old_default_place_is_refused_not_silently_left_behind(
    cli: Cli, tmp_path: Path, with_config: bool
) -> None:
    """An upgrade must not start empty books in the user data dir beside the real ones."""
    args: list[str] = []
    if with_config:
        config = tmp_path / "etc" / "abby.yaml"
        config.parent.mkdir()
        config.write_text("rag:\n  top_k: 4\n")
        args = ["--config", str(config)]
        legacy = tmp_path / "etc" / "data"
    else:
        legacy = tmp_path / "data"
    legacy.mkdir()
    (legacy / "abby.db").write_bytes(b"")
    for command in (["bank", "audit"], ["xp", "add", "u1", "5"]):
        result = cli(*args, *command)
        assert result.exit_code == 78, result.output
        assert f"Abby data is in {legacy}, the old default data dir" in result.stderr
    assert not (_user_data(tmp_path) / "abby.db").exists(), "no second, empty store"
