"""`abby storage keep` and `abby storage list --kept`: an operator keeps a member's image,
and cleanup past temporary retention then leaves it alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import FrozenClock
from core.context import AppContext
from tests.support.stability_server import make_png


@pytest.fixture
def seeded(backend, backend_env) -> Iterator[AppContext]:  # noqa: ANN001
    """A context on the CLI's store whose clock stands ten days in the past."""
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=10))
    context = AppContext(backend.settings(), clock=clock)
    context.init_schema()
    yield context
    if context.settings.database.uri is not None:
        context.database.client.drop_database(context.settings.database.name)
    context.close()


def test_keep_then_cleanup_spares_the_kept_image_only(cli, seeded) -> None:  # noqa: ANN001
    kept = seeded.storage.save("u1", make_png(), {"prompt": "a fox"}, guild_id="g1")
    temp = seeded.storage.save("u1", make_png(), guild_id="g1")
    result = cli("storage", "keep", kept.file_id, "--user", "u1", "--json")
    assert result.exit_code == 0, result.output
    assert result.json() == {"file_id": kept.file_id, "user_id": "u1", "kind": "kept"}
    listed = cli("storage", "list", "u1", "--all", "--kept", "--json").json()
    assert [row["file_id"] for row in listed] == [kept.file_id]
    assert "a fox" not in cli("storage", "list", "u1", "--all", "--kept").stdout
    cleaned = cli("storage", "cleanup", "--yes", "--json")
    assert cleaned.exit_code == 0 and cleaned.json()["files_deleted"] == 1, cleaned.output
    assert seeded.storage.absolute(kept).exists()
    assert not seeded.storage.absolute(temp).exists()


def test_keep_of_someone_elses_file_is_not_found_and_changes_nothing(cli, seeded) -> None:  # noqa: ANN001
    record = seeded.storage.save("u1", make_png())
    result = cli("storage", "keep", record.file_id, "--user", "u2", "--json")
    assert result.exit_code == 3, result.output
    assert result.json()["error"]["code"] == "unknown_file"
    assert seeded.storage.get(record.file_id).kept is False


def test_temporary_moves_a_kept_image_back(cli, seeded) -> None:  # noqa: ANN001
    record = seeded.storage.save("u1", make_png(), kept=True)
    result = cli("storage", "keep", record.file_id, "-u", "u1", "--temporary", "--json")
    assert result.exit_code == 0 and result.json()["kind"] == "temporary", result.output
    assert seeded.storage.get(record.file_id).kept is False
