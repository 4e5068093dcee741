"""A separate process for the economy's concurrency and crash tests.

Run as `python -m tests.support.economy_worker MODE --json-args '{...}'` with the backend's
ABBY_* variables in the environment; prints one JSON line with what it saw. Modes:

- transfers: random keyed transfers among N accounts, a third of them retried later;
- grant: one message-XP grant at a given `now`;
- drain: several threads each try the same transfer from one account at once;
- loop: keyed transfers forever (the crash test kills it with SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from typing import Any


def _wait(start_at: float | None) -> None:
    # Every worker opens its stores first, then all start together.
    if start_at:
        time.sleep(max(0.0, start_at - time.time()))


def transfers(args: dict[str, Any]) -> dict[str, Any]:
    from core.context import current
    from core.errors import InsufficientFunds

    bank = current().bank
    rng = random.Random(args["seed"])
    accounts = [f"acct{i}" for i in range(args["accounts"])]
    outcomes: dict[str, str] = {}
    planned: list[tuple[str, str, str, int]] = []
    for i in range(args["count"]):
        payer, payee = rng.sample(accounts, 2)
        planned.append((f"{args['prefix']}-{i}", payer, payee, rng.randint(1, 60)))
    retries: list[tuple[str, str, str, int]] = []
    mismatches = 0

    def run(key: str, payer: str, payee: str, amount: int) -> str:
        try:
            bank.transfer(payer, payee, amount, guild_id=args["guild"], idempotency_key=key)
            return "done"
        except InsufficientFunds:
            return "failed"

    _wait(args.get("start_at"))
    for index, item in enumerate(planned):
        outcomes[item[0]] = run(*item)
        if index % 3 == 0:
            retries.append(item)
        # Retry earlier keys while new ones are still being applied, in random order.
        if retries and rng.random() < 0.3:
            retry = retries.pop(rng.randrange(len(retries)))
            mismatches += run(*retry) != outcomes[retry[0]]
    for retry in retries:
        mismatches += run(*retry) != outcomes[retry[0]]
    return {"outcomes": outcomes, "mismatches": mismatches}


def grant(args: dict[str, Any]) -> dict[str, Any]:
    from core.context import current

    xp = current().xp
    xp.settings_for(args["guild"])  # warm the settings cache before the race
    _wait(args.get("start_at"))
    granted = {}
    for user in args["users"]:
        change = xp.grant_message(user, guild_id=args["guild"], now=args["now"])
        granted[user] = change is not None
    return {"granted": granted}


def drain(args: dict[str, Any]) -> dict[str, Any]:
    from core.context import current
    from core.errors import InsufficientFunds

    bank = current().bank
    results: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            bank.transfer(args["payer"], args["payee"], args["amount"], guild_id=args["guild"])
            outcome = "done"
        except InsufficientFunds:
            outcome = "insufficient"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(args["threads"])]
    _wait(args.get("start_at"))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"done": results.count("done"), "insufficient": results.count("insufficient")}


def loop(args: dict[str, Any]) -> dict[str, Any]:
    from core.context import current
    from core.errors import InsufficientFunds

    bank = current().bank
    rng = random.Random(args["seed"])
    accounts = [f"acct{i}" for i in range(args["accounts"])]
    i = 0
    while True:
        payer, payee = rng.sample(accounts, 2)
        try:
            bank.transfer(
                payer, payee, rng.randint(1, 60), idempotency_key=f"loop{args['seed']}-{i}"
            )
        except InsufficientFunds:
            pass
        i += 1
        if i == 5:
            sys.stdout.write("running\n")
            sys.stdout.flush()


MODES = {"transfers": transfers, "grant": grant, "drain": drain, "loop": loop}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--json-args", default="{}")
    options = parser.parse_args()
    result = MODES[options.mode](json.loads(options.json_args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
