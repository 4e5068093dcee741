"""The quota contract on SQLite and MongoDB: status, limits, the atomic daily reservation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.clock import FrozenClock
from core.context import AppContext, use_context
from core.errors import ExitCode, InvalidInput, QuotaExceeded
from tests.support.stability_server import make_png

QUOTA = {
    "daily_generations": 5,
    "role_limits": {"5001": 20, "5002": 1},  # role ids
    "level_bands": {1: 10, 5: 25, 10: 50},
    "owner_limit": 1000,
    "owner_ids": ["owner1"],
    "guilds": {"big": {"daily_generations": 8, "user_mb": 2, "role_limits": {"5003": 30}}},
}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 1, 18, 0, tzinfo=UTC))


@pytest.fixture
def ctx(backend, clock: FrozenClock) -> Iterator[AppContext]:  # noqa: ANN001
    settings = backend.settings(quota=QUOTA)
    context = AppContext(settings, clock=clock)
    with use_context(context):
        yield context
    if settings.database.uri is not None and "database" in context.__dict__:
        context.database.client.drop_database(settings.database.name)
    context.close()


def test_status_has_the_seed_shape_with_fresh_numbers(ctx: AppContext) -> None:
    status = ctx.quota.get_quota_status("u1", None, [], 0)
    assert status == {
        "global": {"used_mb": 0.0, "total_mb": 5000.0, "percentage": 0.0, "status": "OK"},
        "user": {"used_mb": 0.0, "limit_mb": 500.0, "percentage": 0.0, "status": "OK"},
        "daily": {"allowed": True, "remaining": 5, "limit": 5, "used": 0, "reset_hours": 6.0},
    }


@pytest.mark.parametrize(
    "user,guild,roles,level,limit",
    [
        ("u1", None, [], 0, 5),
        ("u1", None, ["5002"], 0, 5),  # a role never lowers the limit
        ("u1", None, ["5001"], 0, 20),
        ("u1", None, [], 1, 10),
        ("u1", None, [], 7, 25),
        ("u1", None, ["5001"], 12, 50),
        ("owner1", None, [], 0, 1000),
        ("u1", "big", [], 0, 8),
        ("u1", "big", ["5003"], 0, 30),
        ("u1", "other", ["5003"], 0, 5),
    ],
)
def test_daily_limit_is_raised_by_roles_levels_owner_and_guild(
    ctx: AppContext, user: str, guild: str | None, roles: list[str], level: int, limit: int
) -> None:
    assert ctx.quota.get_quota_status(user, guild, roles, level)["daily"]["limit"] == limit


def test_storage_status_moves_from_ok_to_warning_to_critical(backend, clock) -> None:  # noqa: ANN001
    png = make_png(4, 4)
    limit_mb = len(png) * 10 / (1024 * 1024)  # room for ten images
    settings = backend.settings(quota={"user_mb": limit_mb, "global_mb": limit_mb * 100})
    context = AppContext(settings, clock=clock)
    try:
        seen = []
        for _ in range(10):
            context.storage.save("u1", png)
            seen.append(context.quota.get_quota_status("u1")["user"]["status"])
        assert seen[:7] == ["OK"] * 7
        assert seen[7:9] == ["WARNING"] * 2 and seen[9] == "CRITICAL"
        assert context.quota.get_quota_status("u1")["user"]["percentage"] == 100.0
        assert context.quota.get_quota_status("u2")["user"]["status"] == "OK"
        with pytest.raises(QuotaExceeded, match="your storage is full"):
            context.quota.reserve("u1")
    finally:
        if settings.database.uri is not None:
            context.database.client.drop_database(settings.database.name)
        context.close()


def test_reservations_stop_at_the_limit_and_release_gives_one_back(ctx: AppContext) -> None:
    taken = [ctx.quota.reserve("u1") for _ in range(5)]
    assert [r.used for r in taken] == [1, 2, 3, 4, 5]
    with pytest.raises(QuotaExceeded, match="daily limit reached") as caught:
        ctx.quota.reserve("u1")
    assert caught.value.exit_code == ExitCode.REFUSED
    assert ctx.quota.release(taken[0]) is True
    assert ctx.quota.get_quota_status("u1")["daily"]["remaining"] == 1
    assert ctx.quota.reserve("u1").used == 5


def test_release_never_goes_below_zero(ctx: AppContext) -> None:
    reservation = ctx.quota.reserve("u1")
    assert ctx.quota.release(reservation) is True
    assert ctx.quota.release(reservation) is False
    assert ctx.quota.get_quota_status("u1")["daily"]["used"] == 0


def test_the_daily_count_is_shared_by_every_guild(ctx: AppContext) -> None:
    for guild in ("g1", "g2", None, "g3", "g1"):
        ctx.quota.reserve("u1", guild)
    with pytest.raises(QuotaExceeded):
        ctx.quota.reserve("u1", "g4")
    assert ctx.quota.get_quota_status("u1", "big")["daily"]["remaining"] == 3


def test_a_new_utc_day_starts_a_new_count(ctx: AppContext, clock: FrozenClock) -> None:
    for _ in range(5):
        ctx.quota.reserve("u1")
    clock.advance(5 * 3600 + 59 * 60)  # 23:59 UTC
    assert ctx.quota.get_quota_status("u1")["daily"]["allowed"] is False
    clock.advance(60)
    assert ctx.quota.get_quota_status("u1")["daily"] == {
        "allowed": True,
        "remaining": 5,
        "limit": 5,
        "used": 0,
        "reset_hours": 24.0,
    }


def test_a_zero_limit_refuses_without_writing(backend, clock) -> None:  # noqa: ANN001
    settings = backend.settings(quota={"daily_generations": 0, "level_bands": {}})
    context = AppContext(settings, clock=clock)
    try:
        with pytest.raises(QuotaExceeded):
            context.quota.reserve("u1")
        assert context.quota.get_quota_status("u1")["daily"]["used"] == 0
    finally:
        if settings.database.uri is not None:
            context.database.client.drop_database(settings.database.name)
        context.close()


@pytest.mark.parametrize("level", [-1, "3", 2.5])
def test_a_bad_level_is_refused(ctx: AppContext, level: object) -> None:
    with pytest.raises(InvalidInput):
        ctx.quota.get_quota_status("u1", None, [], level)  # type: ignore[arg-type]
