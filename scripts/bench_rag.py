"""Benchmark the knowledge base on realistic documents; prints one JSON line.

The corpus is the external evaluation's man pages (scripts/make_external_eval.py, written
into a temporary folder unless --corpus names one), split into --rounds parts. Figures
(issues #4 and #12), all from one run so machine load falls on them alike:

- ingest, today's pipeline against the previous one (the code at --previous, a commit, run
  from `git archive` in its own process), interleaved part by part, each in a warm process
  of its own (model loaded, Chroma imported): seconds, chunks/s, tokens/s (tokens the model
  saw, [CLS] and [SEP] included) and the process's peak memory (VmHWM of the child's own
  /proc status: ru_maxrss would carry the forking parent's); `ingest_speedup` is previous s
  / today's s;
- raw: the model alone on the SAME texts today's ingest embedded (recorded as it embedded
  them, timed right after each part), so `ingest_vs_raw_tokens` is ingest tokens/s over the
  model's own on identical input;
- reingest_speedup: first ingest / re-ingest of the unchanged corpus (today's);
- query_p50_ms: in-process queries (query embedding included) against 10,000 chunks: the
  corpus's vectors plus noisy copies spread over other guilds and the global scope, as
  configured (by source, document vectors) and with hybrid on (`hybrid_query_p50_ms`);
- cli_query_s / previous_cli_query_s: `abby rag query` as a separate process, whole-command
  wall time (median), today's code and the previous commit's CLI run alternately, each on the
  store its own ingest built from the corpus (before the filler is added).

Run: python scripts/bench_rag.py [--rounds 4] [--previous f5ccba9] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The last commit before issue #12 (chunker 1, fp32 model, 4,096-token batches).
PREVIOUS = "f5ccba9"
GUILD = "g1"


# --- the child: one pipeline in a warm process, driven line by line over stdin ------------


class Recording:
    """The service's embedder, keeping the texts it was asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.dimension = inner.dimension
        self.compatible_models = getattr(inner, "compatible_models", frozenset())
        self.texts: list[str] = []

    def embed(self, texts: Any) -> list[list[float]]:
        self.texts.extend(texts)
        return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def child(data: Path, raw: bool) -> None:
    from core.config import load_settings
    from core.context import AppContext

    context = AppContext(load_settings(environ={"ABBY_DATA_DIR": str(data)}))
    embedder = context.rag.embedder
    recording = Recording(embedder)
    service = context.rag.with_embedder(recording)
    embedder.embed(["warm up the model"] * 8)
    _ = service.store.count()
    print(json.dumps({"ready": True, "model": embedder.model_name}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "exit":
            break
        recording.texts = []
        started = time.perf_counter()
        report = service.ingest_paths([Path(command["path"])], guild_id=GUILD)
        seconds = time.perf_counter() - started
        texts = recording.texts
        tokens = sum(min(embedder.count_tokens(t) + 2, 256) for t in texts)
        out = {"seconds": seconds, "chunks": report.chunks, "embedded": len(texts)}
        out["tokens"] = tokens
        if raw and texts:
            started = time.perf_counter()
            embedder.embed(texts)  # the same texts, the model alone
            out["raw_seconds"] = time.perf_counter() - started
        print(json.dumps(out), flush=True)
    print(json.dumps({"peak_rss_mb": round(peak_memory_mb(), 1)}), flush=True)
    context.close()


def peak_memory_mb() -> float:
    """This process's peak resident memory since its exec (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


class Pipeline:
    """A child process running one version of the code."""

    def __init__(self, code: Path, data: Path, *, raw: bool) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
        env["PYTHONPATH"] = str(code)
        args = [sys.executable, str(Path(__file__).resolve()), "--child", str(data)]
        self.process = subprocess.Popen(
            [*args, *(["--raw"] if raw else [])],
            cwd=code,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"pipeline child failed (exit {self.process.wait()})")
        return json.loads(line)

    def send(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> dict[str, Any]:
        result = self.send(op="exit")
        self.process.wait(timeout=60)
        return result


def previous_code(work: Path, ref: str) -> Path:
    target = work / "previous"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "core", "abby_cli"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def split_corpus(corpus: Path, work: Path, rounds: int) -> list[Path]:
    pages = sorted(corpus.glob("*.md"))
    parts = []
    for r in range(rounds):
        part = work / "corpus" / f"part{r}"
        part.mkdir(parents=True)
        for page in pages[r::rounds]:
            (part / page.name).write_bytes(page.read_bytes())
        parts.append(part)
    return parts


# --- the parent -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="a folder make_external_eval.py wrote")
    parser.add_argument("--previous", default=PREVIOUS, help="commit of the previous pipeline")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--total", type=int, default=10_000)
    parser.add_argument("--cli-runs", type=int, default=8)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.raw)
        return
    sys.path.insert(0, str(ROOT))

    work = Path(tempfile.mkdtemp(prefix="bench_rag_"))
    corpus = args.corpus
    if corpus is None:
        corpus = work / "pages"
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_external_eval.py"), str(corpus)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    parts = split_corpus(corpus, work, args.rounds)
    today = Pipeline(ROOT, work / "data", raw=True)
    before = Pipeline(previous_code(work, args.previous), work / "data-previous", raw=False)
    sums: dict[str, dict[str, float]] = {"today": {}, "previous": {}}
    for r, part in enumerate(parts):
        # Alternate who goes first, so a burst of load elsewhere falls on both alike.
        order = [("today", today), ("previous", before)]
        for name, pipeline in order if r % 2 == 0 else order[::-1]:
            result = pipeline.send(op="ingest", path=str(part))
            for key, value in result.items():
                sums[name][key] = sums[name].get(key, 0) + value
    reingest = today.send(op="ingest", path=str(work / "corpus"))
    assert reingest["chunks"] == 0, reingest
    peaks = {"today": today.close()["peak_rss_mb"], "previous": before.close()["peak_rss_mb"]}
    cli = cli_figures(work, work / "previous", args.cli_runs)
    t, p = sums["today"], sums["previous"]

    out: dict[str, Any] = {
        "corpus": "external evaluation (man pages)",
        "pages": len(list(corpus.glob("*.md"))),
        "model": today.ready["model"],
        "previous_model": before.ready["model"],
        "chunks": int(t["chunks"]),
        "embedded": int(t["embedded"]),
        "previous_chunks": int(p["chunks"]),
        "ingest_s": round(t["seconds"], 2),
        "previous_ingest_s": round(p["seconds"], 2),
        "ingest_speedup": round(p["seconds"] / t["seconds"], 2),
        "ingest_chunks_per_s": round(t["chunks"] / t["seconds"], 1),
        "previous_ingest_chunks_per_s": round(p["chunks"] / p["seconds"], 1),
        "ingest_tokens_per_s": round(t["tokens"] / t["seconds"]),
        "previous_ingest_tokens_per_s": round(p["tokens"] / p["seconds"]),
        "mean_tokens": round(t["tokens"] / t["embedded"], 1),
        "raw_tokens_per_s": round(t["tokens"] / t["raw_seconds"]),
        "raw_chunks_per_s": round(t["embedded"] / t["raw_seconds"], 1),
        "ingest_vs_raw_tokens": round(t["raw_seconds"] / t["seconds"], 3),
        "peak_rss_mb": peaks["today"],
        "previous_peak_rss_mb": peaks["previous"],
        "reingest_s": round(reingest["seconds"], 4),
        "reingest_speedup": round(t["seconds"] / reingest["seconds"], 1),
    }
    out.update(cli)
    out["cli_vs_previous"] = round(cli["cli_query_s"] / cli["previous_cli_query_s"], 3)
    out.update(query_figures(work, args))
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


def query_figures(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Query latency against `total` chunks, in-process and as a whole CLI command."""
    import random

    import numpy as np

    from core.config import load_settings
    from core.context import AppContext

    env = {"ABBY_DATA_DIR": str(work / "data")}
    context = AppContext(load_settings(environ=env))
    service = context.rag
    store = service.store
    rows = list(store.scan(documents=True))
    texts = [row["document"] for row in rows]
    base = np.asarray(service.embedder.embed(texts[:512]), dtype=np.float32)
    extra = max(0, args.total - len(rows))
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
    rng = random.Random(4)
    questions = [" ".join(rng.choice(texts).split()[:12]) + "?" for _ in range(args.queries + 5)]
    for q in questions[:5]:
        service.query(q, guild_id=GUILD)
    latencies = []
    timings: dict[bool, list[float]] = {False: [], True: []}
    for q in questions[5:]:
        for hybrid in (False, True):  # alternated, so load falls on both alike
            started = time.perf_counter()
            results = service.query(
                q, guild_id=GUILD, top_k=5, min_score=-1.0, hybrid=hybrid or None
            )
            timings[hybrid].append(time.perf_counter() - started)
            assert results and all(r.guild_id in (GUILD, None) for r in results)
    context.close()
    latencies, hybrid_latencies = timings[False], timings[True]
    return {
        "query_chunks": total,
        "query_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "query_p95_ms": round(sorted(latencies)[int(len(latencies) * 0.95)] * 1000, 2),
        "hybrid_query_p50_ms": round(statistics.median(hybrid_latencies) * 1000, 2),
        "hybrid_query_p95_ms": round(
            sorted(hybrid_latencies)[int(len(hybrid_latencies) * 0.95)] * 1000, 2
        ),
    }


def cli_figures(work: Path, previous: Path, runs: int) -> dict[str, Any]:
    """`abby rag query` wall time, today's CLI and the previous commit's, alternately."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ABBY_")}
    questions = [
        json.loads(line)["query"]
        for line in (ROOT / "scripts" / "external_eval" / "questions.jsonl").open()
        if line.strip()
    ]
    sides = {
        "today": (ROOT, work / "data"),
        "previous": (previous, work / "data-previous"),
    }
    times: dict[str, list[float]] = {"today": [], "previous": []}
    for i in range(runs):
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]
        for name in order:
            code, data = sides[name]
            env = {**base, "ABBY_DATA_DIR": str(data), "PYTHONPATH": str(code)}
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "abby_cli.main", "rag", "query", "--guild", GUILD]
                + ["--json", "--", questions[i % len(questions)]],
                env=env,
                capture_output=True,
                text=True,
                cwd=code,
            )
            times[name].append(time.perf_counter() - started)
            assert done.returncode == 0, (name, done.stdout, done.stderr)
            assert json.loads(done.stdout), (name, done.stdout)
    env = {**base, "ABBY_DATA_DIR": str(work / "data")}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "abby_cli.main", "--version"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    version_s = time.perf_counter() - started
    return {
        "cli_query_s": round(statistics.median(times["today"]), 3),
        "cli_query_min_s": round(min(times["today"]), 3),
        "previous_cli_query_s": round(statistics.median(times["previous"]), 3),
        "previous_cli_query_min_s": round(min(times["previous"]), 3),
        "abby_version_s": round(version_s, 3),
    }


if __name__ == "__main__":
    main()
