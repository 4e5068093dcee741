"""Benchmark the knowledge base; prints one JSON line.

Figures (issue #4), all measured in one run so machine load affects them alike:
- raw_embed_per_s: the local model on ~60-word chunks, batches of 32;
- ingest_chunks_per_s: `ingest_paths` on a generated corpus of >= 2,000 such chunks (files
  read, chunked, hashed, embedded with their title and heading, written to Chroma and
  SQLite), and its ratio to raw; both measured with the model loaded and Chroma imported,
  alternating in rounds of 256 chunks so that other processes' load falls on both alike;
- reingest_speedup: first ingest time / re-ingest of the unchanged corpus;
- query_p50_ms: in-process queries (query embedding included) against 10,000 chunks; the
  corpus's real vectors plus 8,000 noisy copies spread over other guilds and the global scope
  (their passages in the word index too); query_hybrid_p50_ms with the word index fused in,
  query_passages_p50_ms ranking raw chunks (the query before ranking by source);
- cli_query_s: `abby rag query` as a separate process, whole-command wall time (median).

Run: python scripts/bench_rag.py [--chunks 2048] [--queries 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "abby bank coins transfer ledger audit member guild server channel message level "
    "experience points reward quota image prompt style upscale session summary key rotate "
    "encrypt vector chunk query document ingest folder markdown heading sentence friday event "
    "music voice stream moderator rules welcome role badge weekly contest winner garden club "
    "bake sale library book chapter story dragon castle river mountain forest journey map "
    "compass lantern festival harvest winter summer autumn spring morning evening night"
).split()


def paragraph(rng: random.Random, words: int = 60) -> str:
    out, sentence = [], []
    for _ in range(words):
        sentence.append(rng.choice(WORDS))
        if len(sentence) >= rng.randint(8, 14):
            out.append(" ".join(sentence).capitalize() + ".")
            sentence = []
    if sentence:
        out.append(" ".join(sentence).capitalize() + ".")
    return " ".join(out)


def write_corpus(root: Path, chunks: int, rng: random.Random) -> list[str]:
    """Files of 16 sections, one ~60-word paragraph each (a heading starts a chunk)."""
    texts: list[str] = []
    per_file = 16
    for f in range(0, chunks, per_file):
        sections = []
        for s in range(min(per_file, chunks - f)):
            text = paragraph(rng)
            texts.append(text)
            sections.append(f"## Section {s}\n\n{text}")
        (root / f"doc{f // per_file:04d}.md").write_text(
            f"# Doc {f // per_file}\n\n" + "\n\n".join(sections), encoding="utf-8"
        )
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2048)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--total", type=int, default=10_000)
    parser.add_argument("--cli-runs", type=int, default=5)
    args = parser.parse_args()

    import numpy as np

    from core.config import load_settings
    from core.context import AppContext

    rng = random.Random(4)
    work = Path(tempfile.mkdtemp(prefix="bench_rag_"))
    corpus = work / "corpus"
    rounds = max(1, args.chunks // 256)
    parts = []
    texts: list[str] = []
    for r in range(rounds):
        part = corpus / f"part{r}"
        part.mkdir(parents=True)
        part_texts = write_corpus(part, args.chunks // rounds, rng)
        parts.append((part, part_texts))
        texts.extend(part_texts)
    env = {"ABBY_DATA_DIR": str(work / "data")}
    context = AppContext(load_settings(environ=env))
    service = context.rag
    embedder = service.embedder

    # Steady state: the model is loaded and Chroma imported before anything is timed. Raw
    # embedding and ingest alternate in rounds of 256 chunks, so the load other processes put
    # on the machine falls on both alike.
    embedder.embed(texts[:64])
    _ = service.store.count()
    raw_s = ingest_s = 0.0
    ingested = 0
    for part, part_texts in parts:
        started = time.perf_counter()
        for start in range(0, len(part_texts), 32):
            embedder.embed(part_texts[start : start + 32])
        raw_s += time.perf_counter() - started
        started = time.perf_counter()
        report = service.ingest_paths([part], guild_id="g1")
        ingest_s += time.perf_counter() - started
        ingested += report.chunks
    raw_per_s = len(texts) / raw_s

    started = time.perf_counter()
    again = service.ingest_paths([corpus], guild_id="g1")
    reingest_s = time.perf_counter() - started
    assert again.unchanged == len(list(corpus.rglob("*.md"))) and again.chunks == 0
    first = type("First", (), {"chunks": ingested})

    # Fill to `total` chunks: noisy copies of real vectors, in other guilds and global.
    store = service.store
    base = np.asarray(embedder.embed(texts[:512]), dtype=np.float32)
    extra = args.total - first.chunks
    noise = np.random.default_rng(4).normal(0, 0.05, size=(extra, base.shape[1]))
    vectors = base[np.arange(extra) % len(base)] + noise.astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scopes = ["g2", "g3", "g4", ""]
    for start in range(0, extra, 4000):
        ids = range(start, min(extra, start + 4000))
        store.add(
            [f"filler:{i}" for i in ids],
            vectors[start : start + len(ids)],
            [texts[i % len(texts)] for i in ids],
            [
                {
                    "doc_id": f"filler{i // 16}",
                    "scope": scopes[i % 4],
                    "chunk": i % 16,
                    "title": "Filler",
                    "source": "filler",
                    "heading": "",
                    "content_hash": "x",
                }
                for i in ids
            ],
        )
    total = store.count()
    questions = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))) + "?"
        for _ in range(args.queries + 5)
    ]
    for q in questions[:5]:
        service.query(q, guild_id="g1")
    # Interleaved, so load falls on each mode alike: the default (best passage per document,
    # rag.hybrid as configured), hybrid forced on (dense + word index fused), raw passages.
    modes = {"default": {}, "hybrid": {"hybrid": True}, "passages": {"passages": True}}
    service.query(questions[0], guild_id="g1", hybrid=True)  # warm-up (ingest wrote the index)
    timings: dict[str, list[float]] = {mode: [] for mode in modes}
    for q in questions[5:]:
        for mode, options in modes.items():
            started = time.perf_counter()
            results = service.query(q, guild_id="g1", top_k=5, min_score=-1.0, **options)
            timings[mode].append(time.perf_counter() - started)
            assert len(results) == 5 and all(r.guild_id in ("g1", None) for r in results)
    latencies = timings["default"]
    context.close()

    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    cli_env.update(env)
    abby = Path(sys.executable).with_name("abby")
    command = [str(abby)] if abby.exists() else [sys.executable, "-m", "abby_cli.main"]
    cli_times = []
    for i in range(args.cli_runs):
        started = time.perf_counter()
        done = subprocess.run(
            [*command, "rag", "query", questions[i], "--guild", "g1", "--json"],
            env=cli_env,
            capture_output=True,
            text=True,
            cwd=work,
        )
        cli_times.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stderr
    # References from the same moment: the CLI's own floor and the two heavy imports.
    started = time.perf_counter()
    subprocess.run([*command, "--version"], env=cli_env, check=True, capture_output=True)
    version_s = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import chromadb, onnxruntime"], check=True)
    import_s = time.perf_counter() - started

    print(
        json.dumps(
            {
                "chunks": first.chunks,
                "raw_embed_per_s": round(raw_per_s, 1),
                "ingest_chunks_per_s": round(first.chunks / ingest_s, 1),
                "ingest_vs_raw": round(first.chunks / ingest_s / raw_per_s, 3),
                "ingest_s": round(ingest_s, 2),
                "reingest_s": round(reingest_s, 4),
                "reingest_speedup": round(ingest_s / reingest_s, 1),
                "query_chunks": total,
                "query_p50_ms": round(statistics.median(latencies) * 1000, 2),
                "query_p95_ms": round(sorted(latencies)[int(len(latencies) * 0.95)] * 1000, 2),
                "query_hybrid_p50_ms": round(statistics.median(timings["hybrid"]) * 1000, 2),
                "query_passages_p50_ms": round(statistics.median(timings["passages"]) * 1000, 2),
                "cli_query_s": round(statistics.median(cli_times), 3),
                "cli_query_min_s": round(min(cli_times), 3),
                "abby_version_s": round(version_s, 3),
                "python_import_chromadb_onnxruntime_s": round(import_s, 3),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
