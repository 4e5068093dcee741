"""The embedding models Abby knows by name: the local family, OpenAI's dimensions.

Plain constants, no imports: the vector store checks a collection's model against them
without loading a model (core.rag.store), and both embedders read them.
"""

from __future__ import annotations

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
# The same model with int8 per-channel weights (core.rag._fused): 1.6-1.8x faster, vectors at
# mean cosine 0.994 to LOCAL_MODEL_NAME's. A name of its own, so a store built with the other
# says so and `abby rag reindex` rebuilds it.
LOCAL_INT8_MODEL_NAME = "all-MiniLM-L6-v2-int8pc"
# int8 with activation scales per token row instead of per batch (core.rag._fused): a text's
# vector no longer depends on its batch (cosine 0.994 -> 1.000 alone vs batched), cosine 0.9986
# to fp32, as fast as int8pc; recall and MRR on the external evaluation at fp32's (#12).
LOCAL_INT8_ROW_MODEL_NAME = "all-MiniLM-L6-v2-int8row"
LOCAL_DEFAULT_MODEL = LOCAL_INT8_ROW_MODEL_NAME
LOCAL_DIMENSION = 384
# Names under which settings may refer to the fp32 model the local provider runs.
LOCAL_MODEL_ALIASES = frozenset({LOCAL_MODEL_NAME, f"sentence-transformers/{LOCAL_MODEL_NAME}"})
# Models whose vectors are interchangeable for search (cosine >= 0.99 to each other): a store
# built with one still answers queries embedded with another until it is reindexed.
LOCAL_MODEL_FAMILY = frozenset({LOCAL_MODEL_NAME, LOCAL_INT8_MODEL_NAME, LOCAL_INT8_ROW_MODEL_NAME})
# Dimensions of OpenAI's own models, so `dimension` is known without a request.
OPENAI_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"

__all__ = [
    "LOCAL_DEFAULT_MODEL",
    "LOCAL_DIMENSION",
    "LOCAL_INT8_MODEL_NAME",
    "LOCAL_INT8_ROW_MODEL_NAME",
    "LOCAL_MODEL_ALIASES",
    "LOCAL_MODEL_FAMILY",
    "LOCAL_MODEL_NAME",
    "OPENAI_DEFAULT_BASE_URL",
    "OPENAI_DIMENSIONS",
]
