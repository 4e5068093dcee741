"""The int8 local models: per-row activation scales make a vector independent of its batch.

Real onnxruntime graphs built from the packaged weights, against the fp32 fused graph and the
sentence-transformers reference vectors (tests/fixtures/minilm_reference.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from core.config import EmbeddingSettings
from core.rag._fused import cached_int8_row_model
from core.rag.embedding import (
    LOCAL_DEFAULT_MODEL,
    LOCAL_INT8_MODEL_NAME,
    LOCAL_INT8_ROW_MODEL_NAME,
    LOCAL_MODEL_NAME,
    LocalEmbedder,
    build_embedder,
    default_model_path,
)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "minilm_reference.json"
# Short and long texts together, so the batch pads the short ones and mixes ranges.
FILLER = " ".join(
    f"option --flag{n} changes how the listing is sorted and printed" for n in range(18)
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    items = json.loads(FIXTURE.read_text(encoding="utf-8"))["items"]
    return [item["text"] for item in items]


def _alone_and_batched(embedder: LocalEmbedder, texts: list[str]) -> np.ndarray:
    """Per text: cosine between its vector embedded alone and inside one padded batch."""
    batch = [*texts, FILLER, FILLER.upper(), "x"]
    together = embedder.embed_array(batch)[: len(texts)]
    alone = np.vstack([embedder.embed_array([text]) for text in texts])
    return (together * alone).sum(axis=1)


@pytest.mark.slow
def test_the_row_model_gives_a_text_the_same_vector_alone_and_in_any_batch(
    cache: Path, texts: list[str]
) -> None:
    row = LocalEmbedder(model_name=LOCAL_INT8_ROW_MODEL_NAME, cache_dir=cache, batch_size=64)
    cosine = _alone_and_batched(row, texts)
    assert cosine.min() > 0.99999, cosine.min()


@pytest.mark.slow
def test_the_per_batch_model_does_move_with_its_batch(cache: Path, texts: list[str]) -> None:
    """What the row model fixes: the same check fails for int8pc, so it can fail."""
    per_batch = LocalEmbedder(model_name=LOCAL_INT8_MODEL_NAME, cache_dir=cache, batch_size=64)
    assert _alone_and_batched(per_batch, texts).min() < 0.9999


@pytest.mark.slow
def test_the_row_model_stays_close_to_fp32_and_to_sentence_transformers(
    cache: Path, texts: list[str]
) -> None:
    items = json.loads(FIXTURE.read_text(encoding="utf-8"))["items"]
    reference = np.asarray([item["vector"] for item in items], dtype=np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    row = LocalEmbedder(model_name=LOCAL_INT8_ROW_MODEL_NAME, cache_dir=cache)
    fp32 = LocalEmbedder(model_name=LOCAL_MODEL_NAME, cache_dir=cache)
    vectors = row.embed_array(texts)
    to_fp32 = (vectors * fp32.embed_array(texts)).sum(axis=1)
    to_reference = (vectors * reference).sum(axis=1)
    # Measured: mean 0.996, worst 0.983 on the one- and zero-word texts ("ok", ""), where a
    # vector is the mean of two or three tokens (int8pc: 0.990 and 0.963); 0.9986 on chunks.
    assert to_fp32.mean() >= 0.995 and to_fp32.min() >= 0.98, to_fp32.min()
    assert to_reference.mean() >= 0.994 and to_reference.min() >= 0.97, to_reference.min()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # An empty text ([CLS] [SEP] only) and a text of one repeated token still give unit
    # vectors: no row's scale is zero.
    odd = row.embed_array(["", "a " * 300])
    assert np.isfinite(odd).all() and np.allclose(np.linalg.norm(odd, axis=1), 1.0, atol=1e-5)


def test_the_row_model_is_built_once_private_and_fully_integer(cache: Path) -> None:
    path = cached_int8_row_model(default_model_path(), cache)
    assert path.name.startswith("all-MiniLM-L6-v2-int8row-") and path.suffix == ".onnx"
    assert path.stat().st_mode & 0o077 == 0
    stamp = path.stat().st_mtime_ns
    assert cached_int8_row_model(default_model_path(), cache) == path
    assert path.stat().st_mtime_ns == stamp
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]
    graph = onnx.load(str(path))
    # The oldest onnxruntime the project allows (1.18) reads IR version 10 at most.
    assert graph.ir_version <= 10
    ops = [node.op_type for node in graph.graph.node]
    # Every matrix product is int8 with row scales; nothing is quantised per tensor.
    assert ops.count("MatMulIntegerToFloat") == 6 * 6  # Q, K, V, out, in, output per layer
    assert {"MatMul", "Attention", "QAttention", "DynamicQuantizeLinear"}.isdisjoint(ops)
    assert path.stat().st_size < 70 * 2**20  # int8 weights, not fp32 (~90 MB)


def test_the_row_model_is_the_configured_default_and_a_model_of_its_own() -> None:
    assert LOCAL_DEFAULT_MODEL == LOCAL_INT8_ROW_MODEL_NAME == EmbeddingSettings().model
    embedder = build_embedder(EmbeddingSettings())
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.model_name == "all-MiniLM-L6-v2-int8row"
    # Stores built with the earlier int8 or fp32 model stay readable (and get reindexed).
    assert {LOCAL_INT8_MODEL_NAME, LOCAL_MODEL_NAME} <= embedder.compatible_models
    assert build_embedder(EmbeddingSettings(model=LOCAL_INT8_MODEL_NAME)).model_name == (
        LOCAL_INT8_MODEL_NAME
    )
