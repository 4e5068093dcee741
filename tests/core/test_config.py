"""Configuration: precedence, validation with one-line errors, secrets kept out of sight."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import NoneType, UnionType
from typing import Union, get_args, get_origin

import pytest

from core.config import load_settings, read_secret_file
from core.errors import ConfigError, ExitCode

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_put_the_data_dir_in_the_user_data_dir_not_the_current_one(
    tmp_path: Path,
) -> None:
    settings = load_settings(environ={})
    user_data = tmp_path / "home" / ".local" / "share" / "abby"  # HOME is tmp_path/home
    assert settings.data_dir == user_data
    assert settings.data_dir_source == "the user data dir"
    assert settings.database.backend == "sqlite"
    assert settings.sqlite_path == user_data / "abby.db"
    assert not (tmp_path / "home").exists(), "loading settings must not create anything"


def test_a_config_file_without_data_dir_does_not_put_data_beside_itself(tmp_path: Path) -> None:
    config = write(tmp_path / "etc" / "abby.yaml", "xp:\n  cooldown_seconds: 5\n")
    settings = load_settings(config, environ={})
    assert settings.data_dir == tmp_path / "home" / ".local" / "share" / "abby"
    assert settings.config_file == config
    assert settings.config_source == "--config"


def test_later_sources_win(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "xp:\n  cooldown_seconds: 5\n  min_grant: 1\n")
    environ = {"ABBY_XP__COOLDOWN_SECONDS": "7", "ABBY_DATA_DIR": str(tmp_path / "d")}
    settings = load_settings(config, environ=environ, overrides={"xp": {"min_grant": 3}})
    assert (settings.xp.cooldown_seconds, settings.xp.min_grant) == (7, 3)
    assert settings.data_dir == tmp_path / "d"


def test_abby_config_variable_and_default_file_are_found(tmp_path: Path) -> None:
    write(tmp_path / "config.yaml", "rag:\n  top_k: 9\n")
    assert load_settings(environ={}).rag.top_k == 9
    other = write(tmp_path / "other.yaml", "rag:\n  top_k: 3\n")
    assert load_settings(environ={"ABBY_CONFIG": str(other)}).rag.top_k == 3


@pytest.mark.parametrize(
    "text, expected",
    [
        ("xp: [unclosed\n", "malformed YAML at line"),
        ("xpp:\n  min_grant: 1\n", "unknown key xpp"),
        ("xp:\n  min_grantt: 1\n", "unknown key xp.min_grantt"),
        ("xp:\n  cooldown_seconds: soon\n", "xp.cooldown_seconds: invalid value 'soon'"),
        ("database:\n  uri: postgres://x\n", "database.uri: invalid value ***"),
        ("- a list\n", "top level must be a mapping"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    config = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert caught.value.exit_code == ExitCode.CONFIG


def test_unknown_environment_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown key databse"):
        load_settings(environ={"ABBY_DATABSE__URI": "mongodb://x"})


def test_missing_explicit_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_secrets_never_show_in_repr_or_dump() -> None:
    secret = "mongodb://admin:hunter2hunter2@db.example:27017"
    settings = load_settings(
        environ={"ABBY_DATABASE__URI": secret, "ABBY_DISCORD__TOKEN": "tok-abcdefghijkl"}
    )
    assert settings.database.uri.get_secret_value() == secret
    for text in (repr(settings), str(settings.model_dump()), settings.model_dump_json()):
        assert "hunter2" not in text
        assert "tok-abcdefghijkl" not in text
    assert set(settings.secret_values()) == {secret, "tok-abcdefghijkl"}


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "keys", "secret\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_secret_file(path)
    os.chmod(path, 0o600)
    assert read_secret_file(path) == "secret\n"


def test_config_example_documents_every_key_and_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_config_example.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    settings = load_settings(ROOT / "config.example.yaml", environ={})
    assert settings.data_dir == ROOT / "data"


def _numeric_fields(model: type, prefix: str = "") -> list[tuple[str, object]]:
    """Every int or float setting of the tree, as (dotted key, field info)."""
    from pydantic import BaseModel

    found: list[tuple[str, object]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _numeric_fields(annotation, f"{prefix}{name}.")
        elif annotation in (int, float) or (
            get_origin(annotation) in (Union, UnionType)
            and set(get_args(annotation)) in ({int, NoneType}, {float, NoneType})
        ):
            found.append((f"{prefix}{name}", info))
    return found


def test_every_numeric_setting_has_an_upper_bound() -> None:
    """A number without one overflowed a datetime far from the config load (issue #9)."""
    from annotated_types import Le, Lt

    from core.config import Settings

    fields = _numeric_fields(Settings)
    assert len(fields) > 30
    unbounded = [
        key for key, info in fields if not any(isinstance(m, Le | Lt) for m in info.metadata)
    ]
    assert unbounded == []


@pytest.mark.parametrize(
    "variable,value",
    [
        ("ABBY_SESSIONS__RETENTION_DAYS", "99999999999999"),
        ("ABBY_BANK__RECOVER_GRACE_SECONDS", "1e300"),
        ("ABBY_XP__COOLDOWN_SECONDS", "99999999999999999999"),
        ("ABBY_STORAGE__TEMP_RETENTION_DAYS", "1e20"),
        ("ABBY_IMAGES__TIMEOUT_SECONDS", "inf"),
        ("ABBY_LLM__TIMEOUT_SECONDS", "nan"),
    ],
)
def test_a_huge_setting_is_one_line_and_exit_78(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={variable: value})
    key = variable.removeprefix("ABBY_").lower().replace("__", ".")
    assert key in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == ExitCode.CONFIG
