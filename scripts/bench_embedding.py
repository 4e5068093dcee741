"""Benchmark the local embedding model on realistic chunks; prints one JSON line.

The chunks are what RAG embeds: the external evaluation's man pages (written by
scripts/make_external_eval.py into a temporary folder unless --corpus names one), cut by
the pipeline's chunker with their context prefix (~190 tokens each, not 60-word synthetic
sentences). Measured in one run, alternating so machine load falls on all alike:
- the fp32 fused graph (all-MiniLM-L6-v2) and the two int8 ones, activation scales per batch
  (all-MiniLM-L6-v2-int8pc) and per token row (all-MiniLM-L6-v2-int8row): tokens/s and
  chunks/s, CPU s per run, speed-up over fp32, the vectors' cosine to the fp32 ones (mean, 1st
  percentile, min), and "alone_vs_batched": the cosine between a chunk embedded alone and the
  same chunk embedded in the batches of the whole run (1.0 = independent of the batch);
- "one_per_run": the default model with each chunk in its own run (no padding, no
  neighbours), the other way to make a vector independent of its batch;
- the default model under padded-batch budgets of 1,024, 2,048 and 4,096 tokens.

Run from the repository root: ``python scripts/bench_embedding.py [--chunks 600]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run without installing


def corpus_chunks(corpus: Path, limit: int) -> list[str]:
    """Embedded texts (prefix + chunk) of the corpus's pages, spread over all of them."""
    from core.rag.chunking import chunk_document
    from core.rag.embedding import LocalEmbedder
    from core.rag.loaders import parse

    count = LocalEmbedder().count_tokens
    texts: list[str] = []
    for path in sorted(corpus.glob("*.md")):
        loaded = parse(path, path.read_bytes())
        texts.extend(
            c.embedded for c in chunk_document(loaded.title, loaded.text, count_tokens=count)
        )
    step = max(1, len(texts) // limit)
    return texts[::step][:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="a folder make_external_eval.py wrote")
    parser.add_argument("--chunks", type=int, default=600)
    parser.add_argument("--threads", type=int, default=None, help="default: every core")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is kept")
    args = parser.parse_args()

    import numpy as np

    from core.rag.embedding import (
        LOCAL_DEFAULT_MODEL,
        LOCAL_INT8_MODEL_NAME,
        LOCAL_INT8_ROW_MODEL_NAME,
        LOCAL_MODEL_NAME,
        LocalEmbedder,
        _cpu_count,
    )

    work = Path(tempfile.mkdtemp(prefix="abby-bench-embedding-"))
    corpus = args.corpus
    if corpus is None:
        corpus = work / "corpus"
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_external_eval.py"), str(corpus)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    chunks = corpus_chunks(corpus, args.chunks)
    cache = work / "models"
    models = {
        name: LocalEmbedder(threads=args.threads, cache_dir=cache, model_name=name)
        for name in (LOCAL_MODEL_NAME, LOCAL_INT8_MODEL_NAME, LOCAL_INT8_ROW_MODEL_NAME)
    }
    build_s = {}
    for name, embedder in models.items():
        started = time.perf_counter()
        embedder.load()
        build_s[name] = round(time.perf_counter() - started, 2)
        embedder.embed(chunks[:32])  # warm-up: first runs allocate arenas
    tokens = sum(min(models[LOCAL_MODEL_NAME].count_tokens(c) + 2, 256) for c in chunks)

    best = dict.fromkeys(models, float("inf"))
    cpu = dict(best)
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeat):
        for name, embedder in models.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            vectors[name] = embedder.embed_array(chunks)
            best[name] = min(best[name], time.perf_counter() - started)
            cpu[name] = min(cpu[name], time.process_time() - cpu_started)

    def summary(cosine: np.ndarray) -> dict[str, float]:
        return {
            "mean": round(float(cosine.mean()), 5),
            "p1": round(float(np.percentile(cosine, 1)), 5),
            "min": round(float(cosine.min()), 5),
        }

    default = models[LOCAL_DEFAULT_MODEL]
    alone: dict[str, np.ndarray] = {}
    one_per_run = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        alone[LOCAL_DEFAULT_MODEL] = np.vstack([default.embed_array([c]) for c in chunks])
        one_per_run = min(one_per_run, time.perf_counter() - started)
    for name, embedder in models.items():
        if name not in alone:
            alone[name] = np.vstack([embedder.embed_array([c]) for c in chunks])

    budgets = {1024: float("inf"), 2048: float("inf"), 4096: float("inf")}
    for _ in range(args.repeat):
        for budget in budgets:
            default.max_batch_tokens = budget
            started = time.perf_counter()
            default.embed_array(chunks)
            budgets[budget] = min(budgets[budget], time.perf_counter() - started)

    out = {
        "corpus": "external evaluation (man pages)",
        "chunks": len(chunks),
        "mean_tokens": round(tokens / len(chunks), 1),
        "threads": args.threads or _cpu_count(),
        "default_model": LOCAL_DEFAULT_MODEL,
    }
    for name in models:
        out[name] = {
            "tokens_per_s": round(tokens / best[name]),
            "chunks_per_s": round(len(chunks) / best[name], 1),
            # CPU seconds per run: on a shared, busy machine wall-clock throughput drops
            # while this stays put, which tells a slow model from a loaded machine.
            "cpu_s_per_run": round(cpu[name], 2),
            "first_build_s": build_s[name],
            "speedup_vs_fp32": round(best[LOCAL_MODEL_NAME] / best[name], 3),
            "cosine_to_fp32": summary((vectors[LOCAL_MODEL_NAME] * vectors[name]).sum(axis=1)),
            "alone_vs_batched": summary((alone[name] * vectors[name]).sum(axis=1)),
        }
    out["one_per_run"] = {
        "model": LOCAL_DEFAULT_MODEL,
        "tokens_per_s": round(tokens / one_per_run),
        "vs_batched": round(best[LOCAL_DEFAULT_MODEL] / one_per_run, 3),
    }
    # The default model's figures under the names earlier runs reported them.
    out["int8_speedup"] = out[LOCAL_DEFAULT_MODEL]["speedup_vs_fp32"]
    out["int8_cosine"] = out[LOCAL_DEFAULT_MODEL]["cosine_to_fp32"]
    out["batch_budget_tokens_per_s"] = {str(b): round(tokens / s) for b, s in budgets.items()}
    out["peak_rss_mb_all_models"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
