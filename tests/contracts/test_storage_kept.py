"""Kept images on SQLite and MongoDB: the owner's guarded keep and delete, the gallery's
pages, and cleanup sparing kept files past temporary retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.clock import FrozenClock
from core.context import AppContext, use_context
from core.errors import InvalidInput, UnknownFile
from core.scope import Scope
from tests.support.stability_server import make_png

DAY = 86_400


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def ctx(backend, clock: FrozenClock) -> Iterator[AppContext]:  # noqa: ANN001
    settings = backend.settings(storage={"temp_retention_days": 7, "kept_retention_days": 0})
    context = AppContext(settings, clock=clock)
    with use_context(context):
        yield context
    if settings.database.uri is not None and "database" in context.__dict__:
        context.database.client.drop_database(settings.database.name)
    context.close()


def test_keep_moves_a_file_to_kept_and_back(ctx: AppContext) -> None:
    record = ctx.storage.save("u1", make_png(), {"prompt": "a fox"}, guild_id="g1")
    assert record.kept is False
    kept = ctx.storage.keep(record.file_id, "u1")
    assert kept.kept is True and ctx.storage.get(record.file_id).kept is True
    assert ctx.storage.keep(record.file_id, "u1").kept is True  # idempotent
    assert ctx.storage.keep(record.file_id, "u1", kept=False).kept is False


def test_keep_of_someone_elses_file_changes_nothing(ctx: AppContext) -> None:
    record = ctx.storage.save("u1", make_png(), guild_id="g1")
    with pytest.raises(UnknownFile):
        ctx.storage.keep(record.file_id, "u2")
    with pytest.raises(UnknownFile):
        ctx.storage.keep("0" * 32, "u1")
    assert ctx.storage.get(record.file_id).kept is False


def test_remove_owned_deletes_the_owners_file_only(ctx: AppContext) -> None:
    record = ctx.storage.save("u1", make_png(), guild_id="g1")
    path = ctx.storage.absolute(record)
    with pytest.raises(UnknownFile):
        ctx.storage.remove_owned(record.file_id, "u2")
    assert path.exists() and ctx.storage.usage().total_files == 1
    deleted = ctx.storage.remove_owned(record.file_id, "u1")
    assert deleted.file_id == record.file_id and not path.exists()
    assert ctx.storage.usage().total_files == 0
    with pytest.raises(UnknownFile):
        ctx.storage.remove_owned(record.file_id, "u1")


def test_kept_files_are_paged_newest_first_in_one_guild(
    ctx: AppContext, clock: FrozenClock
) -> None:
    ids = []
    for n in range(5):
        clock.advance(60)
        record = ctx.storage.save("u1", make_png(), {"prompt": f"p{n}"}, guild_id="g1")
        ids.append(ctx.storage.keep(record.file_id, "u1").file_id)
    ctx.storage.save("u1", make_png(), guild_id="g1")  # temporary: not in the gallery
    other = ctx.storage.save("u1", make_png(), guild_id="g2")
    ctx.storage.keep(other.file_id, "u1")
    ctx.storage.keep(ctx.storage.save("u2", make_png(), guild_id="g1").file_id, "u2")
    first = ctx.storage.kept_files("u1", Scope.of("g1"), offset=0, limit=2)
    second = ctx.storage.kept_files("u1", Scope.of("g1"), offset=2, limit=2)
    last = ctx.storage.kept_files("u1", Scope.of("g1"), offset=4, limit=2)
    assert [r.file_id for r in first + second + last] == ids[::-1]
    assert ctx.storage.kept_files("u1", Scope.of("g1"), offset=6, limit=2) == []
    with pytest.raises(InvalidInput):
        ctx.storage.kept_files("u1", Scope.of("g1"), offset=-1)


def test_cleanup_past_temp_retention_spares_kept_files(ctx: AppContext, clock: FrozenClock) -> None:
    temp = ctx.storage.save("u1", make_png(), guild_id="g1")
    kept = ctx.storage.keep(ctx.storage.save("u1", make_png(), guild_id="g1").file_id, "u1")
    clock.advance(30 * DAY)
    report = ctx.storage.cleanup()
    assert report.files_deleted == 1
    assert ctx.storage.absolute(kept).exists() and ctx.storage.get(kept.file_id).kept
    with pytest.raises(UnknownFile):
        ctx.storage.get(temp.file_id)
