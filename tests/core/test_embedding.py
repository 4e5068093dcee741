"""Embedders: the real local all-MiniLM-L6-v2 model, and the real openai SDK on loopback."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
from pydantic import SecretStr

from core.config import EmbeddingSettings
from core.errors import ConfigError, InvalidInput, RateLimited, ServiceUnavailable
from core.rag.embedding import (
    Embedder,
    LocalEmbedder,
    OpenAIEmbedder,
    build_embedder,
    default_model_path,
    load_session,
)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "minilm_reference.json"
API_KEY = "sk-test-do-not-leak-1234567890"


@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    embedder = LocalEmbedder(batch_size=32)
    embedder.load()
    return embedder


@pytest.fixture(scope="module")
def reference() -> list[dict[str, Any]]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))["items"]


def _cosine(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- local model ---------------------------------------------------------------------------


def test_local_vectors_match_sentence_transformers_on_every_reference_sentence(
    local: LocalEmbedder, reference: list[dict[str, Any]]
) -> None:
    """The int8 ONNX model stays within cosine 0.995 of PyTorch fp32 sentence-transformers."""
    vectors = local.embed([item["text"] for item in reference])
    cosines = [_cosine(v, item["vector"]) for v, item in zip(vectors, reference, strict=True)]
    worst = sorted(zip(cosines, (item["text"][:40] for item in reference), strict=True))[:3]
    assert min(cosines) >= 0.995, f"worst matches: {worst}"


@pytest.mark.slow
def test_the_fused_graph_matches_the_reference_and_the_packaged_export(
    local: LocalEmbedder, reference: list[dict[str, Any]], tmp_path: Path
) -> None:
    fused = LocalEmbedder(cache_dir=tmp_path / "models")
    texts = [item["text"] for item in reference]
    vectors = fused.embed(texts)
    for item, vector in zip(reference, vectors, strict=True):
        assert _cosine(vector, item["vector"]) >= 0.995, item["text"][:60]
    packaged = np.asarray(local.embed(texts))
    assert np.abs(np.asarray(vectors) - packaged).max() < 1e-4
    [built] = (tmp_path / "models").iterdir()  # one file, no temporary left behind
    assert built.name.startswith("all-MiniLM-L6-v2-fused-") and built.suffix == ".onnx"
    stamp = built.stat().st_mtime_ns
    LocalEmbedder(cache_dir=tmp_path / "models").embed(["built once, then reused"])
    assert built.stat().st_mtime_ns == stamp


def test_local_vectors_have_384_dimensions_and_unit_length(local: LocalEmbedder) -> None:
    vectors = local.embed(["short", "a somewhat longer sentence about the bank", ""])
    assert local.dimension == 384
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert all(isinstance(x, float) for x in vectors[0])


@pytest.mark.slow
def test_local_embed_keeps_input_order_across_mixed_lengths_and_batches(
    local: LocalEmbedder, reference: list[dict[str, Any]]
) -> None:
    """Inputs are sorted by length internally; rows must come back in the caller's order."""
    texts = [item["text"] for item in reference]
    small_batches = LocalEmbedder(batch_size=4)  # several batches, each padded differently
    together = np.asarray(small_batches.embed(texts))
    alone = np.asarray([local.embed([text])[0] for text in texts])
    assert np.abs(together - alone).max() < 1e-5
    # ...and each row is its own sentence's vector, not a neighbour's.
    for row, item in zip(together, reference, strict=True):
        assert _cosine(row, item["vector"]) >= 0.995


def test_local_embed_of_no_texts_is_empty_without_running_the_model(
    local: LocalEmbedder,
) -> None:
    assert local.embed([]) == []
    assert local.embed(()) == []


def test_local_embed_rejects_a_bare_string(local: LocalEmbedder) -> None:
    with pytest.raises(InvalidInput):
        local.embed("one string is not a list of texts")  # type: ignore[arg-type]


def test_local_embed_truncates_at_the_models_256_token_window(local: LocalEmbedder) -> None:
    """Text past token 254 (plus [CLS]/[SEP]) is ignored, not padded to 128 as the file says."""
    head = " ".join(f"word{n % 7}" for n in range(200))
    assert 254 < local.count_tokens(head) < 1000
    different_tail = [head + " cats and dogs", head + " völlig anderer Schluss 🚀"]
    a, b = local.embed(different_tail)
    assert np.abs(np.asarray(a) - np.asarray(b)).max() < 1e-6
    # Below the window every token counts: 128-token truncation would make these equal.
    short = " ".join(["bank"] * 150)
    x, y = local.embed([short + " alpha", short + " omega"])
    assert np.abs(np.asarray(x) - np.asarray(y)).max() > 1e-4


def test_batches_respect_batch_size_and_keep_long_texts_from_padding_short_ones() -> None:
    embedder = LocalEmbedder(batch_size=4, max_batch_tokens=600)
    lengths = np.array([256, 10, 12, 256, 11, 9, 256, 13, 14])
    batches = embedder._plan_batches(lengths)
    assert sorted(int(i) for batch in batches for i in batch) == list(range(len(lengths)))
    assert all(len(batch) <= 4 for batch in batches)
    widths = [(len(batch), int(lengths[batch].max())) for batch in batches]
    assert widths == [(4, 12), (2, 14), (2, 256), (1, 256)], widths


def test_count_tokens_counts_wordpieces_without_special_tokens_or_truncation(
    local: LocalEmbedder,
) -> None:
    assert local.count_tokens("") == 0
    assert local.count_tokens("hello world") == 2
    assert local.count_tokens("Tokenization") == 2  # token ##ization
    assert local.count_tokens("a " * 300) == 300  # beyond the 256-token window


def test_local_model_is_loaded_once_per_process() -> None:
    first, second = LocalEmbedder(), LocalEmbedder(batch_size=8)
    assert first._runtime() is second._runtime()
    assert first._runtime() is load_session(default_model_path(), None)


def test_local_embedder_satisfies_the_embedder_protocol(local: LocalEmbedder) -> None:
    assert isinstance(local, Embedder)
    assert local.model_name == "all-MiniLM-L6-v2"


# --- build_embedder ------------------------------------------------------------------------


def test_build_embedder_returns_the_local_model_by_default() -> None:
    embedder = build_embedder(EmbeddingSettings(batch_size=16))
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.batch_size == 16


def test_build_embedder_refuses_another_model_for_the_local_provider() -> None:
    with pytest.raises(ConfigError, match="runs all-MiniLM-L6-v2-int8row, all-MiniLM-L6-v2-int8pc"):
        build_embedder(EmbeddingSettings(model="bge-small-en"))


def test_build_embedder_returns_an_openai_client_for_provider_openai() -> None:
    settings = EmbeddingSettings(
        provider="openai",
        model="text-embedding-3-small",
        base_url="http://127.0.0.1:9/v1",
        api_key=SecretStr(API_KEY),
    )
    embedder = build_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.dimension == 1536  # known model: no request needed
    assert API_KEY not in repr(embedder)


def test_openai_provider_without_key_or_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="api_key"):
        build_embedder(EmbeddingSettings(provider="openai", model="text-embedding-3-small"))


# --- OpenAI-compatible server on loopback --------------------------------------------------


class _Server:
    """State shared with the handler: what to answer and what was received."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[dict[str, Any]] = []
        self.url = ""


def _fake_vector(text: str, dims: int = 8) -> list[float]:
    # Deterministic, distinct per text, deliberately NOT unit length.
    seed = sum(ord(c) for c in text) + len(text)
    return [float((seed * (i + 3)) % 17 + 1) for i in range(dims)]


def _handler(state: _Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if self.path != "/v1/embeddings":
                return self._reply(404, {"error": {"message": "no route"}})
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                return self._reply(401, {"error": {"message": f"Incorrect API key {API_KEY}"}})
            if state.status != 200:
                return self._reply(state.status, {"error": {"message": "scripted failure"}})
            inputs = body["input"]
            data = [
                {"object": "embedding", "index": i, "embedding": _fake_vector(text)}
                for i, text in enumerate(inputs)
            ]
            data.reverse()  # clients must order by `index`, not by position
            self._reply(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": body["model"],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                },
            )

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    state = _Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def remote(server: _Server) -> OpenAIEmbedder:
    server.status = 200
    server.requests.clear()
    return OpenAIEmbedder(
        model="custom-embed",
        base_url=server.url,
        api_key=SecretStr(API_KEY),
        timeout_seconds=5,
        batch_size=2,
        max_retries=0,
    )


def test_openai_embedder_sends_batches_through_the_sdk_and_keeps_order(
    remote: OpenAIEmbedder, server: _Server
) -> None:
    texts = ["alpha", "beta gamma", "delta", "epsilon zeta eta", "theta"]
    vectors = remote.embed(texts)
    assert [r["body"]["input"] for r in server.requests] == [texts[0:2], texts[2:4], texts[4:]]
    headers = {k.lower(): v for k, v in server.requests[0]["headers"].items()}
    assert headers["user-agent"].startswith("OpenAI/Python")  # the real SDK made the call
    assert headers["x-stainless-lang"] == "python"
    assert server.requests[0]["body"]["encoding_format"] == "float"
    for text, vector in zip(texts, vectors, strict=True):
        assert _cosine(vector, _fake_vector(text)) == pytest.approx(1.0, abs=1e-6)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)


def test_openai_embedder_learns_an_unknown_models_dimension_from_the_server(
    remote: OpenAIEmbedder, server: _Server
) -> None:
    assert remote.dimension == 8
    assert remote.embed([]) == []
    assert len(server.requests) == 1


def test_openai_embedder_counts_tokens_locally(remote: OpenAIEmbedder, server: _Server) -> None:
    assert remote.count_tokens("hello world") == 2
    assert server.requests == []


def test_openai_401_is_a_config_error_without_the_key(server: _Server) -> None:
    embedder = OpenAIEmbedder(
        model="custom-embed", base_url=server.url, api_key="sk-wrong-secret-999", max_retries=0
    )
    with pytest.raises(ConfigError) as caught:
        embedder.embed(["hello"])
    assert isinstance(caught.value.__cause__, openai.AuthenticationError)
    assert "sk-wrong-secret-999" not in str(caught.value)
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "expected", "cause"),
    [
        (500, ServiceUnavailable, openai.InternalServerError),
        (503, ServiceUnavailable, openai.InternalServerError),
        (429, RateLimited, openai.RateLimitError),
        (400, InvalidInput, openai.BadRequestError),
    ],
)
def test_openai_status_errors_map_to_abby_errors(
    remote: OpenAIEmbedder,
    server: _Server,
    status: int,
    expected: type[Exception],
    cause: type[Exception],
) -> None:
    server.status = status
    with pytest.raises(expected) as caught:
        remote.embed(["hello"])
    assert isinstance(caught.value.__cause__, cause)
    assert str(status) in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert len(server.requests) == 1  # max_retries=0: one attempt


def test_openai_wrong_path_is_a_config_error(server: _Server) -> None:
    embedder = OpenAIEmbedder(
        model="custom-embed",
        base_url=server.url.removesuffix("/v1") + "/wrong",
        api_key=SecretStr(API_KEY),
        max_retries=0,
    )
    with pytest.raises(ConfigError, match="404"):
        embedder.embed(["hello"])


def test_openai_connection_refused_is_service_unavailable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    embedder = OpenAIEmbedder(
        model="custom-embed",
        base_url=f"http://user:pw@127.0.0.1:{port}/v1",
        api_key=SecretStr(API_KEY),
        timeout_seconds=2,
        max_retries=0,
    )
    with pytest.raises(ServiceUnavailable, match="unreachable") as caught:
        embedder.embed(["hello"])
    assert isinstance(caught.value.__cause__, openai.APIConnectionError)
    assert "pw" not in str(caught.value)
    assert API_KEY not in str(caught.value)
