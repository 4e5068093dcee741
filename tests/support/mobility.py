"""A data dir with something in every domain, for the export/import and `db copy` tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from core.context import AppContext
from core.rag.repository import DocumentRecord

GUILDS = (None, "g1", "g2")


def populate(ctx: AppContext, *, members: int = 6) -> None:
    """Write users, XP and settings, money, sessions, files, quota use and RAG records."""
    ctx.keys.generate(write=True)
    for n in range(members):
        user = f"u{n}"
        for guild in GUILDS:
            ctx.users.upsert(user, f"name{n}", None, guild_id=guild)
            ctx.xp.add(user, 10 * n + 5, guild_id=guild)
            ctx.bank.add(user, 100 + n, reason="seed", guild_id=guild)
        ctx.xp.grant_message(user, guild_id="g1")
    ctx.users.update("u1", {"bio": "héllo ✓", "pronouns": "they"}, guild_id="g1")
    ctx.xp.update_settings({"curve": "power"}, guild_id="g1")
    ctx.moderation.update_access({"admin_role_ids": ["111", "222"]}, guild_id="g1")
    for n in range(members - 1):
        key = f"k{n}"
        payer, payee = f"u{n}", f"u{n + 1}"
        ctx.bank.transfer(payer, payee, 7, reason="lunch", guild_id="g1", idempotency_key=key)
    ctx.bank.transfer("u0", "u2", 3, guild_id=None)
    sid = ctx.sessions.create("u1", "c1", "g1")
    ctx.sessions.append_many(sid, [("user", "secret question"), ("assistant", "answer ✓")])
    ctx.sessions.close(sid, summary="a summary")
    open_sid = ctx.sessions.create("u2", "c2", None)
    ctx.sessions.append(open_sid, "user", "still talking")
    for n in range(3):
        image = b"\x89PNG\r\n\x1a\n" + bytes([n]) * 64
        ctx.storage.save(f"u{n}", image, {"prompt": f"p{n}"}, guild_id="g1")
    ctx.quota.reserve("u1", guild_id="g1")
    ctx.quota.reserve("u2")
    repo = ctx.rag_documents
    records = [
        DocumentRecord(
            doc_id=f"d{n}",
            guild_id=guild,
            title=f"Doc {n}",
            source=f"/docs/{n}.md",
            user_id="u1" if n else None,
            tags=("faq", f"t{n}"),
            content_hash=hashlib.sha256(str(n).encode()).hexdigest(),
            chunk_count=n + 1,
            ingested_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            embedding_model="all-MiniLM-L6-v2",
            state="ready",
        )
        for n, guild in enumerate(GUILDS)
    ]
    repo.put_pending(records)
    repo.mark_ready([r.doc_id for r in records])
    repo.put_lines("g1", {"d1": ["key-a", "key-b"]})


def snapshot(ctx: AppContext) -> dict[str, list[dict[str, Any]]]:
    """Every domain's export, as lists (the comparison unit of the round-trip tests)."""
    return {domain: list(repo.export()) for domain, repo in ctx.repositories().items()}


def keyed(records: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Records by (type, every field but the mutable order), to compare as sets."""
    return {(r["record"], *sorted((k, str(v)) for k, v in r.items())): r for r in records}


def bulk(ctx: AppContext, members: int) -> None:
    """Add `members` profiles and XP records fast (through import_, not one call each)."""
    stamp = "2026-03-04T05:06:07.089+00:00"
    repos = ctx.repositories()
    repos["users"].import_(
        {"record": "users", "v": 1, "user_id": f"m{n:07d}", "scope": "g1", "username": f"m{n}",
         "discriminator": None, "display_name": None, "bio": None, "timezone": None,
         "locale": None, "pronouns": None, "created_at": stamp, "updated_at": stamp}
        for n in range(members)
    )  # fmt: skip
    repos["xp"].import_(
        {"record": "xp", "v": 1, "scope": "g1", "user_id": f"m{n:07d}", "xp": n, "prev_xp": 0,
         "last_grant_at": None, "updated_at": stamp}
        for n in range(members)
    )  # fmt: skip


def bulk_ledger(ctx: AppContext, mints: int) -> None:
    """Add `mints` mints of 1 to one account (transfers, ledger rows, the balance) fast."""
    stamp = "2026-03-04T05:06:07.089+00:00"
    records: list[dict[str, Any]] = []
    for n in range(mints):
        tid = f"bulk{n:07d}"
        records.append(
            {"record": "bank_transfers", "v": 1, "transfer_id": tid, "scope": "g9", "kind": "mint",
             "from_user": None, "to_user": "rich", "amount": 1, "status": "done",
             "reason": "bulk", "keyed": False, "created_at": stamp}
        )  # fmt: skip
        records.append(
            {"record": "bank_ledger", "v": 1, "transfer_id": tid, "side": "credit", "scope": "g9",
             "user_id": "rich", "amount": 1, "balance_after": n + 1, "counterparty": None,
             "reason": "bulk", "at": stamp}
        )  # fmt: skip
    records.append(
        {"record": "bank_accounts", "v": 1, "scope": "g9", "user_id": "rich", "balance": mints}
    )
    ctx.repositories()["bank"].import_(records)
