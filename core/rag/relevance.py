"""How strong a retrieved passage is: hits below a calibrated cosine floor are "weak".

The floor separates the best hit of questions the manual answers (docs/eval.jsonl) from the
best hit of questions it cannot answer; `scripts/bench_relevance_floor.py` measures both
and prints how many of each this number classifies right. Re-calibrate it when the
embedding model changes.
"""

from __future__ import annotations

# Measured with all-MiniLM-L6-v2 on docs/ (see the module docstring for the command).
WEAK_BELOW = 0.3


def is_weak(score: float, floor: float = WEAK_BELOW) -> bool:
    """True when a hit's cosine similarity is below the floor: likely not an answer."""
    return score < floor
