"""Benchmark the voice XP sweep: 5,000 members in voice, paid once a minute; ONE JSON line.

What the bot does each minute, measured the same way: hand a snapshot of its in-memory voice
states to `XpService.grant_voice` on the grant writer's thread (eligibility, one batched
write, level marks). Figures (issue #15, target <= 200 ms per sweep, off the event loop):
- `sweep_ms`: p50 / max wall time of one sweep on SQLite (the guild also holds `--others`
  members who are not in voice, so the writes land in a realistic index);
- `loop_us`: what the event loop itself spends per sweep (the snapshot of the dict);
- `per_member_ms`: the same payment made as one `xp.add` per member, in the same run (the
  ratio survives a noisy machine);
- `mongo_standin`: the sweep against the mongoeco wire stand-in (correctness stand-in only:
  its speed says nothing about a real MongoDB), with `--mongo-members` members.

    .venv/bin/python scripts/bench_voice_xp.py [--members 5000] [--others 50000]
        [--sweeps 10] [--mongo-members 500]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from core.context import AppContext  # noqa: E402
from core.economy.grant_writer import GrantWriter  # noqa: E402
from core.economy.voice import VoiceMember  # noqa: E402
from core.scope import Scope  # noqa: E402

GUILD = "800000000000000001"


def voice_members(count: int, seed: int = 7) -> dict[int, VoiceMember]:
    """The bot's in-memory map: 20 per channel, ~10% muted or deafened, ~2% bots, one AFK
    channel holding a few."""
    rng = random.Random(seed)
    present = {}
    for n in range(count):
        channel = "afk" if n % 97 == 0 else f"c{n // 20}"
        present[n] = VoiceMember(
            user_id=str(900000000000000000 + n),
            channel_id=channel,
            self_mute=rng.random() < 0.06,
            self_deaf=rng.random() < 0.02,
            mute=rng.random() < 0.01,
            deaf=rng.random() < 0.01,
            bot=rng.random() < 0.02,
        )
    return present


def sweep_figures(context: AppContext, present: dict[int, VoiceMember], sweeps: int) -> dict:
    sqlite = context.settings.database.backend == "sqlite"
    writer = GrantWriter(context.database.transaction if sqlite else None)
    times, loop, paid = [], [], 0
    try:
        for _ in range(sweeps):
            began = time.perf_counter()
            snapshot = list(present.values())  # all the event loop does itself
            loop.append(time.perf_counter() - began)
            changes = writer.submit(
                context.xp.grant_voice, GUILD, snapshot, afk_channel_id="afk"
            ).result()
            times.append(time.perf_counter() - began)
            paid = len(changes)
    finally:
        writer.close()
    return {
        "sweep_ms_p50": round(statistics.median(times) * 1000, 1),
        "sweep_ms_max": round(max(times) * 1000, 1),
        "loop_us_p50": round(statistics.median(loop) * 1e6, 1),
        "paid_per_sweep": paid,
    }


def per_member_ms(context: AppContext, present: dict[int, VoiceMember]) -> float:
    from core.economy.voice import eligible

    ids = eligible(present.values(), afk_channel_id="afk")
    began = time.perf_counter()
    for user_id in ids:
        context.xp.add(user_id, 10, guild_id="800000000000000002")
    return round((time.perf_counter() - began) * 1000, 1)


def sqlite_run(work: Path, members: int, others: int, sweeps: int) -> dict:
    context = AppContext(load_settings(environ={"ABBY_DATA_DIR": str(work / "sqlite")}))
    try:
        context.init_schema()
        rows = [(str(100000000000000000 + n), random.randrange(0, 50_000)) for n in range(others)]
        context.xp._repo.set_many(Scope.of(GUILD), rows, context.clock.now())
        present = voice_members(members)
        figures = sweep_figures(context, present, sweeps)
        figures["per_member_ms"] = per_member_ms(context, present)
        figures["batched_vs_per_member"] = round(
            figures["per_member_ms"] / max(figures["sweep_ms_p50"], 0.001), 1
        )
        return figures
    finally:
        context.close()


def mongo_run(work: Path, members: int, sweeps: int) -> dict | str:
    if importlib.util.find_spec("mongoeco") is None:
        return "skipped: mongoeco (CPython 3.13+) is not installed"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mongo_server", "--db", str(work / "wire.sqlite")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        uri = server.stdout.readline().split(" ", 1)[1].strip()
        env = {"ABBY_DATA_DIR": str(work / "mongo"), "ABBY_DATABASE__URI": uri,
               "ABBY_DATABASE__NAME": "benchvoice"}  # fmt: skip
        context = AppContext(load_settings(environ=env))
        try:
            return {"members": members, **sweep_figures(context, voice_members(members), sweeps)}
        finally:
            context.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--others", type=int, default=50_000)
    parser.add_argument("--sweeps", type=int, default=10)
    parser.add_argument("--mongo-members", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="abby-bench-voice-") as tmp:
        work = Path(tmp)
        sqlite = sqlite_run(work, args.members, args.others, args.sweeps)
        mongo = mongo_run(work, args.mongo_members, min(args.sweeps, 3))
    print(json.dumps({"bench": "voice_xp", "members_in_voice": args.members, "sqlite": sqlite,
                      "target_ms": 200, "mongo_standin": mongo}))  # fmt: skip


if __name__ == "__main__":
    main()
