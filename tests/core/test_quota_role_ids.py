"""Quota role limits are keyed by role id, as XP's roles are: a config naming roles is refused
at load (exit 78) with how to find the id, and a role name reaching the core is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ConfigError, InvalidInput
from tests.conftest import run_abby


@pytest.mark.parametrize(
    "quota",
    [
        {"role_limits": {"VIP": 20}},
        {"guilds": {"123": {"role_limits": {"Artist": 30}}}},
        {"role_limits": {"<@&123>": 20}},
    ],
    ids=["global-name", "guild-name", "mention"],
)
def test_a_role_name_in_the_quota_config_is_refused_with_how_to_find_the_id(
    tmp_path: Path, quota: dict
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={"ABBY_DATA_DIR": str(tmp_path)}, overrides={"quota": quota})
    text = str(refused.value)
    assert "role_limits" in text and "not a role id" in text and "Copy Role ID" in text
    assert refused.value.exit_code == 78 and "\n" not in text


def test_role_ids_from_yaml_integers_or_strings_are_kept_as_strings(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"ABBY_DATA_DIR": str(tmp_path)},
        overrides={"quota": {"role_limits": {123456789012345678: 20, "42": 7}}},
    )
    assert settings.quota.role_limits == {"123456789012345678": 20, "42": 7}


def test_abby_refuses_a_config_file_naming_a_role_in_one_line_exit_78(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nquota:\n  role_limits:\n    VIP: 20\n")
    result = run_abby("--config", str(config), "config", "validate")
    assert result.exit_code == 78, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "quota.role_limits" in lines[0] and "Developer Mode" in lines[0]


def test_a_role_name_reaching_the_quota_is_refused(context) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInput, match="not a role id"):
        context.quota.status("u1", "g", ["Artist"], 0)
    assert context.quota.status("u1", "g", ["123"], 0).daily.limit == 5
