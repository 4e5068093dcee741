"""The storage contract on SQLite and MongoDB: save, list, delete, usage and cleanup."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import FrozenClock
from core.context import AppContext, use_context
from core.errors import InvalidInput, UnknownFile, UnsafePath
from core.scope import Scope
from core.storage import StorageManager
from tests.support.stability_server import make_png

DAY = 86_400


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def ctx(backend, clock: FrozenClock) -> Iterator[AppContext]:  # noqa: ANN001
    settings = backend.settings(storage={"temp_retention_days": 7, "kept_retention_days": 30})
    context = AppContext(settings, clock=clock)
    with use_context(context):
        yield context
    if settings.database.uri is not None and "database" in context.__dict__:
        context.database.client.drop_database(settings.database.name)
    context.close()


def storage_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_save_writes_the_file_and_its_record_under_the_users_folder(ctx: AppContext) -> None:
    data = make_png(4, 4)
    saved = ctx.storage.save_generation("u1", data, {"prompt": "a cat", "seed": 9}, guild_id="g1")
    assert saved["success"] is True
    assert Path(saved["path"]).read_bytes() == data
    assert saved["relative_path"].startswith("u1/")
    assert saved["bytes"] == len(data) and saved["content_type"] == "image/png"
    [listed] = ctx.storage.list_user_files("u1", "g1")
    assert listed["file_id"] == saved["file_id"]
    assert listed["metadata"] == {"prompt": "a cat", "seed": 9}
    assert not [p for p in storage_files(ctx.storage.real_root()) if ".tmp-" in p]


def test_listing_respects_the_scope(ctx: AppContext) -> None:
    ctx.storage.save("u1", make_png(), guild_id="g1")
    ctx.storage.save("u1", make_png())
    ctx.storage.save("u2", make_png(), guild_id="g1")
    assert len(ctx.storage.list_user_files("u1", "g1")) == 1
    assert len(ctx.storage.list_user_files("u1")) == 1  # the global scope only
    assert len(ctx.storage.files("u1", Scope.EVERY)) == 2
    assert ctx.storage.list_user_files("u1", "g2") == []


def test_usage_follows_saves_and_deletes(ctx: AppContext) -> None:
    a = ctx.storage.save("u1", make_png(4, 4))
    ctx.storage.save("u1", make_png(8, 8), guild_id="g")
    ctx.storage.save("u2", make_png(2, 2))
    usage = ctx.storage.usage(top=5)
    assert usage.total_files == 3
    assert usage.total_bytes == sum(len(make_png(n, n)) for n in (4, 8, 2))
    assert [u.owner for u in usage.users] == ["u1", "u2"]
    assert ctx.storage.delete_file(a.file_id) is True
    assert ctx.storage.usage().users[0].bytes == len(make_png(8, 8))


@pytest.mark.parametrize("bad", [b"", b"plain text, not an image", b"GIF89a...."])
def test_save_refuses_what_is_not_an_image(ctx: AppContext, bad: bytes) -> None:
    with pytest.raises(InvalidInput):
        ctx.storage.save("u1", bad)
    assert ctx.storage.usage().total_files == 0


@pytest.mark.parametrize("user", ["..", ".", "../x", "a/b", "x" * 65])
def test_save_refuses_user_ids_that_could_escape(ctx: AppContext, user: str) -> None:
    with pytest.raises(InvalidInput):
        ctx.storage.save(user, make_png())


def test_delete_by_id_by_relative_and_by_absolute_path(ctx: AppContext) -> None:
    first, second, third = (ctx.storage.save("u1", make_png()) for _ in range(3))
    assert ctx.storage.delete_file(first.file_id)
    assert ctx.storage.delete_file(second.path)
    assert ctx.storage.delete_file(str(ctx.storage.absolute(third)))
    assert storage_files(ctx.storage.real_root()) == []
    assert ctx.storage.usage().total_files == 0
    assert ctx.storage.delete_file(first.file_id) is False
    with pytest.raises(UnknownFile):
        ctx.storage.remove(first.file_id)


def test_delete_refuses_every_escape_and_leaves_sentinels_alone(
    ctx: AppContext, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept = ctx.storage.save("u1", make_png())
    root = ctx.storage.real_root()
    outside = tmp_path / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel.txt"
    sentinel.write_text("do not touch")
    (root / "u1" / "escape").symlink_to(outside)
    (root / "u1" / "link.png").symlink_to(sentinel)
    attacks = [
        "../../outside/sentinel.txt",
        str(sentinel),
        "u1/../../outside/sentinel.txt",
        "u1/escape/sentinel.txt",
        "u1/link.png",
        str(root / "u1" / "escape" / "sentinel.txt"),
        "u1/\x00sentinel.txt",
        "x" * 5000,
        "u1\\..\\..\\outside\\sentinel.txt",
        "/etc/passwd",
    ]
    caplog.set_level(logging.WARNING)
    for attack in attacks:
        assert ctx.storage.delete_file(attack) is False, attack
        with pytest.raises(UnsafePath):
            ctx.storage.remove(attack)
    assert sentinel.read_text() == "do not touch"
    assert ctx.storage.absolute(kept).exists()
    # Each refusal is logged once as a security warning (two tries per attack above).
    assert sum("security" in r.message for r in caplog.records) == 2 * len(attacks)


def test_cleanup_applies_retention_by_kind(ctx: AppContext, clock: FrozenClock) -> None:
    temp = ctx.storage.save("u1", make_png(3, 3))
    kept = ctx.storage.save("u1", make_png(5, 5), kept=True)
    _age_all_files(ctx.storage, clock, 0)
    clock.advance(6 * DAY)
    assert ctx.storage.cleanup_old_files()["files_deleted"] == 0
    clock.advance(2 * DAY)
    report = ctx.storage.cleanup_old_files()
    assert report == {
        "files_deleted": 1,
        "bytes_freed": temp.bytes,
        "orphans_removed": 0,
        "dry_run": False,
    }
    assert not ctx.storage.absolute(temp).exists()
    assert ctx.storage.absolute(kept).exists()
    clock.advance(30 * DAY)
    assert ctx.storage.cleanup_old_files()["files_deleted"] == 1
    assert ctx.storage.usage().total_files == 0


def test_zero_retention_keeps_files_forever(backend, clock: FrozenClock) -> None:  # noqa: ANN001
    settings = backend.settings(storage={"temp_retention_days": 0, "kept_retention_days": 0})
    context = AppContext(settings, clock=clock)
    try:
        context.storage.save("u1", make_png())
        clock.advance(3650 * DAY)
        assert context.storage.cleanup().files_deleted == 0
        assert context.storage.usage().total_files == 1
    finally:
        if settings.database.uri is not None:
            context.database.client.drop_database(settings.database.name)
        context.close()


def test_cleanup_removes_orphans_but_never_a_file_in_flight(
    ctx: AppContext, clock: FrozenClock
) -> None:
    storage = ctx.storage
    root = storage.real_root()
    recorded = storage.save("u1", make_png())
    ghost = storage.save("u1", make_png(6, 6))
    storage.absolute(ghost).unlink()  # a record whose file is gone
    month = clock.now().strftime("%Y-%m")
    # Named and shaped as storage writes them (cleanup takes nothing else).
    old_orphan = root / "u1" / month / f"{'a' * 32}.png"
    crashed = root / "u9" / month / f".tmp-{'b' * 16}"
    in_flight = root / "u1" / month / f"{'c' * 32}.png"
    writing = root / "u1" / month / f".tmp-{'d' * 16}"
    crashed.parent.mkdir(parents=True)
    old_orphan.write_bytes(make_png(2, 2))
    crashed.write_bytes(b"y" * 50)
    _age_all_files(storage, clock, 2 * 3600)
    # Written "now": a save between rename and record insert, and a temp file being written.
    in_flight.write_bytes(make_png(2, 2))
    writing.write_bytes(b"w" * 10)
    _age(in_flight, clock, 60)
    _age(writing, clock, 60)

    dry = storage.cleanup(dry_run=True)
    assert (dry.orphan_files, dry.orphan_records, dry.stale_temp_files) == (1, 1, 1)
    assert dry.dry_run and storage.get(ghost.file_id)
    assert old_orphan.exists()

    report = storage.cleanup()
    assert report.orphans_removed == 3 and report.bytes_freed == len(make_png(2, 2)) + 50
    assert not old_orphan.exists()
    assert not crashed.exists()
    assert in_flight.exists()
    assert writing.exists()
    assert storage.absolute(recorded).exists()
    with pytest.raises(UnknownFile):
        storage.get(ghost.file_id)
    assert storage.usage().total_files == 1


def _age(path: Path, clock: FrozenClock, seconds: float) -> None:
    stamp = clock.now().timestamp() - seconds
    os.utime(path, (stamp, stamp))


def _age_all_files(storage: StorageManager, clock: FrozenClock, seconds: float) -> None:
    for path in storage.real_root().rglob("*"):
        if path.is_file() and not path.is_symlink():
            _age(path, clock, seconds)


def _keep_saving(env: dict[str, str], count: int, ready) -> None:  # noqa: ANN001
    os.environ.update(env)
    from core.context import current

    storage = current().storage
    ready.set()
    for _ in range(count):
        storage.save("writer", make_png(4, 4))


@pytest.mark.slow
def test_cleanup_running_beside_a_writer_process_takes_nothing_in_flight(
    context: AppContext, backend_env: dict[str, str]
) -> None:
    """Cron's cleanup and the bot's saves run at once: no record loses its file."""
    mp = multiprocessing.get_context("spawn")
    ready = mp.Event()
    writer = mp.Process(target=_keep_saving, args=(backend_env, 40, ready))
    writer.start()
    assert ready.wait(60)
    runs = 0
    while writer.is_alive() or runs == 0:
        context.storage.cleanup()
        runs += 1
        time.sleep(0.01)
    writer.join(30)
    assert writer.exitcode == 0
    records = context.storage.files("writer", Scope.EVERY, limit=1000)
    assert len(records) == 40
    assert all(context.storage.absolute(r).read_bytes() == make_png(4, 4) for r in records)
