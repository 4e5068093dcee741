"""Calibrate the relevance floor below which `abby rag query` marks a hit as weak.

Ingests docs/ into a temporary data dir, then takes the best score of every question of
docs/eval.jsonl (on-topic: the manual answers them) and of questions the manual cannot
answer (off-topic). Prints one JSON line: both distributions, the floor in force
(core.rag.relevance.WEAK_BELOW) and how many questions of each kind it classifies right.

    python scripts/bench_relevance_floor.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Questions a Discord operator might type that docs/ has no answer to.
OFF_TOPIC = [
    "what is the capital of France?",
    "how do I bake sourdough bread?",
    "who won the football world cup in 2014?",
    "what is the boiling point of water at altitude?",
    "recommend a good science fiction novel",
    "how tall is mount everest",
    "what's the weather like tomorrow",
    "translate good morning into Japanese",
    "how do I change a flat bicycle tyre",
    "explain the rules of chess castling",
    "best way to learn to play the guitar",
    "what year did the roman empire fall",
    "how many calories are in an apple",
    "how do I file my income tax return",
    "what is the speed of light in a vacuum",
    "lyrics of a famous pop song",
    "how to grow tomatoes on a balcony",
    "what is photosynthesis",
    "cheap flights to Lisbon in May",
    "how do I knit a scarf",
]


def main() -> None:
    from core.config import load_settings
    from core.context import AppContext
    from core.rag.maintenance import read_eval_file
    from core.rag.relevance import WEAK_BELOW

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={"ABBY_DATA_DIR": str(Path(tmp) / "data")})
        context = AppContext(settings)
        try:
            started = time.perf_counter()
            context.rag.ingest_paths([ROOT / "docs"])
            ingest_s = time.perf_counter() - started
            cases = read_eval_file(ROOT / "docs" / "eval.jsonl")

            def best(question: str) -> float:
                hits = context.rag.query(question, top_k=1, min_score=-1.0)
                return hits[0].score if hits else -1.0

            on = sorted(best(case["query"]) for case in cases)
            off = sorted(best(question) for question in OFF_TOPIC)
        finally:
            context.close()
    print(
        json.dumps(
            {
                "floor": WEAK_BELOW,
                "on_topic_n": len(on),
                "on_topic_lowest": [round(score, 3) for score in on[:5]],
                "on_topic_p10": round(on[len(on) // 10], 3),
                "on_topic_median": round(statistics.median(on), 3),
                "off_topic_n": len(off),
                "off_topic_highest": [round(score, 3) for score in off[-3:]],
                "off_topic_median": round(statistics.median(off), 3),
                "on_topic_kept": sum(score >= WEAK_BELOW for score in on),
                "off_topic_marked_weak": sum(score < WEAK_BELOW for score in off),
                "ingest_seconds": round(ingest_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
