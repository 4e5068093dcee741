"""A second process for the RAG tests: a long-lived reader, or an ingest that crashes.

    python -m tests.core.rag_worker reader        # reads "query TEXT" lines, answers JSON
    python -m tests.core.rag_worker crash POINT SOURCE TEXT   # dies at POINT of the write

The environment (ABBY_DATA_DIR, ABBY_DATABASE__*) says which store to open.
"""

from __future__ import annotations

import json
import os
import sys

from core.config import load_settings
from core.context import AppContext


def reader(context: AppContext) -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, text = line.rstrip("\n").partition(" ")
        if command == "exit":
            return
        results = context.rag.query(text, guild_id="g", top_k=10, min_score=-1.0)
        print(json.dumps([r.source for r in results]), flush=True)


def crash(context: AppContext, point: str, source: str, text: str) -> None:
    def hook(reached: str) -> None:
        if reached == point:
            os._exit(137)  # no cleanup, no flush: as abrupt as SIGKILL

    context.rag.crash_hook = hook
    context.rag.ingest_text(source, source, text, guild_id="g")
    print("survived", flush=True)


def main() -> None:
    context = AppContext(load_settings())
    if sys.argv[1] == "reader":
        reader(context)
    else:
        crash(context, *sys.argv[2:5])
    context.close()


if __name__ == "__main__":
    main()
