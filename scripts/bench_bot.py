"""Benchmark the real bot process against the local Discord stand-in (issue #11).

Starts `abby bot run` (embedded SQLite in a temporary data dir) against the stand-in on
127.0.0.1, then sends 5,000 MESSAGE_CREATE events from 1,000 members in 10 channels as fast
as the gateway socket takes them, with a /rank interaction every 100 ms throughout. Every
message is a cooldown-guarded XP grant (the first per member pays, the other four are on
cooldown) and a profile refresh. Prints one JSON line:

- messages_per_s: messages handled end to end (first event sent to the last grant committed,
  seen by a sentinel message sent after the burst, whose grant the writer applies last);
- rank_ms p50/p99/max: /rank round trip (INTERACTION_CREATE written to the bot's reply
  received) during the burst; rank_late: answers over Discord's 3 s deadline;
- loop_lag_ms_p99: the worst per-second p99 of the bot's event-loop lag (its heartbeats);
- ready_s: process start to IDENTIFY (cogs loaded, commands synced); dry_run_s: the whole
  `abby bot run --dry-run`; sigterm_s: SIGTERM to exit with a second burst in flight, its
  exit code and the gateway close code.

Run: .venv/bin/python scripts/bench_bot.py [--messages 5000 --members 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.bot_process import BotProcess  # noqa: E402
from tests.support.discord_standin import DiscordStandIn  # noqa: E402


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def dry_run_seconds(env: dict[str, str]) -> float:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "abby_cli.main", "bot", "run", "--dry-run", "--json"],
        cwd=ROOT,
        env={**full, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"dry run failed: {done.stderr}")
    return round(took, 2)


def xp_of(env: dict[str, str], user: int, guild: int) -> int:
    from core.config import load_settings
    from core.context import AppContext

    context = AppContext(load_settings(environ=env))
    try:
        return context.xp.get(str(user), guild_id=str(guild)).xp
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rank-every", type=float, default=0.1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        env = {"ABBY_DATA_DIR": str(data), "ABBY_TELEMETRY__HEARTBEAT_SECONDS": "1"}
        dry_run_s = dry_run_seconds(env)
        with DiscordStandIn() as standin, BotProcess(standin, env) as bot:
            ready_s = round(bot.wait_ready(), 2)
            asker = 99_000_001
            standin.interact("rank", user=asker).wait_reply(30)  # warm up
            events = [
                (
                    "MESSAGE_CREATE",
                    standin.message_event(
                        user=10_000 + n % args.members,
                        channel=standin.channel_ids[n % len(standin.channel_ids)],
                        content=f"message {n}",
                    ),
                )
                for n in range(args.messages)
            ]
            sentinel = 98_000_001
            events.append(("MESSAGE_CREATE", standin.message_event(user=sentinel, content="end")))

            rank_rtt: list[float] = []
            late = 0
            stop = threading.Event()

            def ask_rank() -> None:
                nonlocal late
                pending = []
                while not stop.is_set():
                    pending.append(standin.interact("rank", user=asker))
                    stop.wait(args.rank_every)
                for interaction in pending:
                    reply = interaction.wait_settled(60)
                    if reply is None:  # refused: answered after Discord's 3 s deadline
                        late += 1
                        continue
                    rank_rtt.append((reply.at - interaction.sent_at) * 1000)
                    late += reply.at - interaction.sent_at > 3

            asking = threading.Thread(target=ask_rank)
            began = time.monotonic()
            asking.start()
            standin.dispatch_many(events)
            sent_s = time.monotonic() - began
            deadline = time.monotonic() + 300
            while xp_of(env, sentinel, standin.guild_id) == 0:
                if time.monotonic() > deadline:
                    raise SystemExit("the burst was not handled within 300 s")
                time.sleep(0.005)
            handled_s = time.monotonic() - began
            stop.set()
            asking.join()
            granted = sum(xp_of(env, 10_000 + m, standin.guild_id) > 0 for m in (0, 1, 2))

            # SIGTERM with a second burst in flight.
            standin.dispatch_many(
                [
                    ("MESSAGE_CREATE", standin.message_event(user=20_000 + n % 500, content="x"))
                    for n in range(2000)
                ]
            )
            stopped = time.monotonic()
            code = bot.stop(signal.SIGTERM, timeout=30)
            sigterm_s = round(time.monotonic() - stopped, 2)
            close_code = standin.wait_closed()

        from core.config import load_settings
        from core.telemetry.events import EventLog

        events_log = EventLog.from_settings(load_settings(environ=env))
        lags = [
            e["payload"].get("loop_lag_ms_p99")
            for e in events_log.tail(1000)
            if e["type"] == "heartbeat"
        ]
        lags = [v for v in lags if v is not None]

    print(
        json.dumps(
            {
                "bench": "bot",
                "messages": args.messages,
                "members": args.members,
                "messages_per_s": round(args.messages / handled_s, 1),
                "sent_per_s": round(args.messages / sent_s, 1),
                "rank_requests": len(rank_rtt),
                "rank_ms_p50": percentile(rank_rtt, 0.5),
                "rank_ms_p99": percentile(rank_rtt, 0.99),
                "rank_ms_max": percentile(rank_rtt, 1.0),
                "rank_ms_mean": round(statistics.fmean(rank_rtt), 2) if rank_rtt else None,
                "rank_late": late,
                "loop_lag_ms_p99": max(lags) if lags else None,
                "sample_members_granted": granted,
                "ready_s": ready_s,
                "dry_run_s": dry_run_s,
                "sigterm_s": sigterm_s,
                "sigterm_exit": code,
                "gateway_close_code": close_code,
            }
        )
    )


if __name__ == "__main__":
    main()
