"""Several processes claiming the same members' daily reward at once pay each member once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from core.context import AppContext
from tests.conftest import ROOT, Backend


def _spawn(backend: Backend, args: dict[str, Any]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    env.update(backend.env, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.bank_worker", "--json-args", json.dumps(args)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_four_processes_claiming_the_same_daily_pay_each_member_once(
    context: AppContext, backend: Backend
) -> None:
    users = [f"m{i}" for i in range(8)]
    # Each worker walks the members in its own order, so the claims really collide.
    orders = [users, users[::-1], users[3:] + users[:3], users[5:] + users[:5]]
    start_at = time.time() + 3
    workers = [_spawn(backend, {"users": o, "guild": "g", "start_at": start_at}) for o in orders]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    amount = context.settings.bank.daily_amount
    for user in users:
        assert sum(r["paid"][user] for r in results) == 1, (user, results)
        assert context.bank.balance(user, guild_id="g").balance == amount
        assert len(context.bank.history(user, guild_id="g")) == 1
    assert context.bank.audit().ok
