"""`abby storage`: quota, list, delete, usage and cleanup as an operator and cron use them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.clock import FrozenClock
from core.context import AppContext
from tests.support.stability_server import make_png


@pytest.fixture
def seeded(backend, backend_env) -> Iterator[AppContext]:  # noqa: ANN001
    """A context on the CLI's store whose clock stands ten days in the past."""
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=10))
    context = AppContext(backend.settings(), clock=clock)
    context.init_schema()  # readers such as `storage quota` never create a store
    yield context
    if context.settings.database.uri is not None:
        context.database.client.drop_database(context.settings.database.name)
    context.close()


def test_quota_json_has_the_seed_shape_and_honours_roles_and_level(cli, seeded) -> None:  # noqa: ANN001
    result = cli("storage", "quota", "u1", "--level", "5", "--json")
    assert result.exit_code == 0, result.output
    data = result.json()
    assert set(data) == {"global", "user", "daily"}
    assert data["daily"]["limit"] == 25 and data["user"]["status"] == "OK"
    assert cli("storage", "quota", "u1", "--json").json()["daily"]["limit"] == 5


def test_list_shows_files_without_prompts(cli, seeded) -> None:  # noqa: ANN001
    seeded.storage.save("u1", make_png(), {"prompt": "my secret idea", "style": "anime"})
    seeded.storage.save("u1", make_png(), {"prompt": "other"}, guild_id="g1")
    result = cli("storage", "list", "u1", "--all", "--json")
    assert result.exit_code == 0, result.output
    rows = result.json()
    assert len(rows) == 2 and {r["guild_id"] for r in rows} == {None, "g1"}
    assert "secret idea" not in result.stdout
    assert len(cli("storage", "list", "u1", "--guild", "g1", "--json").json()) == 1
    human = cli("storage", "list", "nobody")
    assert human.exit_code == 0 and "No stored images" in human.stdout


@pytest.mark.slow
def test_delete_asks_first_and_dry_run_changes_nothing(cli, seeded) -> None:  # noqa: ANN001
    record = seeded.storage.save("u1", make_png())
    path = seeded.storage.absolute(record)
    refused = cli("storage", "delete", record.file_id)
    assert refused.exit_code == 2 and "--yes" in refused.stderr, refused.output
    dry = cli("storage", "delete", record.file_id, "--dry-run", "--json")
    assert dry.exit_code == 0 and dry.json()["dry_run"] is True
    assert path.exists()
    done = cli("storage", "delete", str(path), "--yes", "--json")
    assert done.exit_code == 0, done.output
    assert done.json()["file_id"] == record.file_id and not path.exists()
    again = cli("storage", "delete", record.file_id, "--yes")
    assert again.exit_code == 3, again.output


@pytest.mark.parametrize("attack", ["../../outside/sentinel.txt", "u1/../../../x", "/etc/passwd"])
def test_delete_refuses_paths_outside_the_root(cli, seeded, tmp_path: Path, attack: str) -> None:  # noqa: ANN001
    seeded.storage.save("u1", make_png())
    sentinel = tmp_path / "outside" / "sentinel.txt"
    sentinel.parent.mkdir()
    sentinel.write_text("keep me")
    result = cli("storage", "delete", attack, "--yes", "--json")
    assert result.exit_code == 2, result.output
    assert result.json()["error"]["code"] == "unsafe_path"
    assert sentinel.read_text() == "keep me"
    assert seeded.storage.usage().total_files == 1


def test_usage_lists_the_biggest_users(cli, seeded) -> None:  # noqa: ANN001
    seeded.storage.save("small", make_png(2, 2))
    for _ in range(3):
        seeded.storage.save("big", make_png(16, 16))
    data = cli("storage", "usage", "--top", "1", "--json").json()
    assert data["total_files"] == 4
    assert [u["user_id"] for u in data["top_users"]] == ["big"]


def test_cleanup_frees_expired_files_and_reports_nothing_to_do_after(cli, seeded) -> None:  # noqa: ANN001
    old = [seeded.storage.save("u1", make_png(4, 4)) for _ in range(3)]
    kept = seeded.storage.save("u1", make_png(4, 4), kept=True)
    for record in old + [kept]:
        stamp = (datetime.now(UTC) - timedelta(days=10)).timestamp()
        os.utime(seeded.storage.absolute(record), (stamp, stamp))
    dry = cli("storage", "cleanup", "--dry-run", "--json")
    assert dry.exit_code == 0 and dry.json()["files_deleted"] == 3
    assert all(seeded.storage.absolute(r).exists() for r in old)
    assert cli("storage", "cleanup").exit_code == 2  # no terminal, no --yes: refused
    result = cli("storage", "cleanup", "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = result.json()
    assert report["files_deleted"] == 3 and report["bytes_freed"] == 3 * old[0].bytes
    assert not any(seeded.storage.absolute(r).exists() for r in old)
    assert seeded.storage.absolute(kept).exists()
    again = cli("storage", "cleanup", "--yes")
    assert again.exit_code == 0 and "Nothing to clean up" in again.stdout
