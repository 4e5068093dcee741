"""The grant writer: message writes batched into shared transactions, every cooldown exact."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from core.context import AppContext
from core.economy.grant_writer import GrantWriter
from core.errors import InvalidInput, ServiceUnavailable
from tests.conftest import ROOT, Backend


def _writer(context: AppContext) -> GrantWriter:
    sqlite = context.settings.database.backend == "sqlite"
    return GrantWriter(context.database.transaction if sqlite else None)


@pytest.mark.slow
def test_a_burst_is_coalesced_and_each_grant_keeps_its_cooldown(context: AppContext) -> None:
    writer = _writer(context)
    gate = threading.Event()
    # Hold the thread on a first job so the burst queues up behind it.
    writer.submit(gate.wait, 5)
    now = time.time()
    futures = [
        writer.submit(context.xp.grant_message, f"m{n % 40}", guild_id="g", now=now)
        for n in range(200)
    ]
    gate.set()
    results = [f.result(30) for f in futures]
    assert writer.close()
    assert sum(r is not None for r in results) == 40  # one grant per member, 160 on cooldown
    assert all(15 <= context.xp.get(f"m{n}", guild_id="g").xp <= 25 for n in range(40))
    assert writer.stats.largest_batch > 50, writer.stats  # many grants per transaction


def test_a_level_up_comes_back_through_the_future(context: AppContext) -> None:
    context.xp.add("lv", 95, guild_id="g")
    writer = _writer(context)
    change = writer.submit(context.xp.grant_message, "lv", guild_id="g", now=time.time()).result(10)
    writer.close()
    assert change.leveled_up and change.level == 1 and change.announce


@pytest.mark.slow
def test_one_bad_call_fails_alone_and_the_batch_commits(context: AppContext) -> None:
    writer = _writer(context)
    gate = threading.Event()
    writer.submit(gate.wait, 5)
    good = writer.submit(context.xp.grant_message, "ok1", guild_id="g", now=time.time())
    bad = writer.submit(context.xp.grant_message, "not an id", guild_id="g", now=time.time())
    gate.set()
    assert good.result(10) is not None
    with pytest.raises(InvalidInput):
        bad.result(10)
    writer.close()
    assert context.xp.get("ok1", guild_id="g").xp >= 15


@pytest.mark.slow
def test_a_failing_transaction_fails_every_write_of_its_batch(context: AppContext) -> None:
    if context.settings.database.backend != "sqlite":
        pytest.skip("MongoDB writes are single-document: there is no batch to roll back")
    writer = _writer(context)
    gate = threading.Event()
    writer.submit(gate.wait, 5)
    first = writer.submit(context.xp.grant_message, "rb1", guild_id="g", now=time.time())

    def crash() -> None:
        raise OSError("disk went away")

    boom = writer.submit(crash)
    gate.set()
    with pytest.raises(OSError):
        boom.result(10)
    with pytest.raises(OSError):
        first.result(10)
    writer.close()
    assert context.xp.get("rb1", guild_id="g").rank is None  # rolled back: no record at all


def test_a_closed_writer_refuses_new_work(context: AppContext) -> None:
    writer = _writer(context)
    assert writer.close()
    with pytest.raises(ServiceUnavailable):
        writer.submit(context.xp.grant_message, "late", guild_id="g")


@pytest.mark.slow
def test_two_processes_batching_the_same_grants_pay_each_member_once(
    backend: Backend, context: AppContext
) -> None:
    context.init_schema()
    users, now, start_at = 300, time.time(), time.time() + 3
    env = {
        **{k: v for k, v in __import__("os").environ.items() if not k.startswith("ABBY_")},
        **backend.env,
        "PYTHONPATH": str(ROOT),
    }
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.grant_writer_worker",
                str(users),
                str(now),
                str(start_at),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [json.loads(w.communicate(timeout=120)[0]) for w in workers]
    assert sum(o["granted"] for o in outputs) == users, outputs
    assert all(15 <= context.xp.get(f"u{n}", guild_id="g").xp <= 25 for n in range(users))
