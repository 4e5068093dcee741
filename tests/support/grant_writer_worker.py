"""A process that grants message XP through a GrantWriter (issue #11's concurrency test).

Run as `python -m tests.support.grant_writer_worker USERS NOW START_AT` with the backend's
ABBY_* variables; every user gets one grant attempt at epoch `NOW`, all submitted at once,
starting at epoch START_AT. Prints one JSON line: {"granted": n, "batches": b}.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    from core.config import load_settings
    from core.context import AppContext
    from core.economy.grant_writer import GrantWriter

    users, now, start_at = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    context = AppContext(load_settings())
    context.init_schema()
    sqlite = context.settings.database.backend == "sqlite"
    writer = GrantWriter(context.database.transaction if sqlite else None)
    time.sleep(max(0.0, start_at - time.time()))
    futures = [
        writer.submit(context.xp.grant_message, f"u{n}", guild_id="g", now=now)
        for n in range(users)
    ]
    granted = sum(f.result(60) is not None for f in futures)
    writer.close()
    print(json.dumps({"granted": granted, "batches": writer.stats.batches}))
    context.close()


if __name__ == "__main__":
    main()
