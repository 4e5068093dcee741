"""A separate process for the daily reward's race tests.

Run as `python -m tests.support.bank_worker --json-args '{...}'` with the backend's ABBY_*
variables in the environment: at `start_at` it claims the daily reward for each of `users`
in `guild` and prints one JSON line {"paid": {user: bool}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def claim(args: dict[str, Any]) -> dict[str, Any]:
    from core.context import current
    from core.errors import AlreadyClaimed

    bank = current().bank
    bank.balance("warm-up", guild_id=args["guild"])  # open the store before the race
    time.sleep(max(0.0, args["start_at"] - time.time()))
    paid = {}
    for user in args["users"]:
        try:
            bank.daily(user, guild_id=args["guild"])
            paid[user] = True
        except AlreadyClaimed:
            paid[user] = False
    return {"paid": paid}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json-args", default="{}")
    options = parser.parse_args()
    sys.stdout.write(json.dumps(claim(json.loads(options.json_args))) + "\n")


if __name__ == "__main__":
    main()
