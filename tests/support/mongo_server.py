"""A MongoDB wire-protocol stand-in for tests: mongoeco's proxy over its SQLite engine.

Run as `python -m tests.support.mongo_server [--db PATH]`; it prints `URI <mongodb://...>` on
its first line once it listens on 127.0.0.1 (a free port), then serves until killed.
A separate process keeps the server's event loop off the test process's GIL, and lets tests
that spawn worker processes share it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys


async def serve(db_path: str) -> None:
    from mongoeco.engines import SQLiteEngine
    from mongoeco.wire import AsyncMongoEcoProxyServer

    server = AsyncMongoEcoProxyServer(engine=SQLiteEngine(path=db_path), host="127.0.0.1", port=0)
    address = await server.start()
    sys.stdout.write(f"URI {address.uri}\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=":memory:")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.db))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
