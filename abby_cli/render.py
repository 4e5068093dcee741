"""How each result type is shown: its table and summary for people, its JSON for scripts.

`abby_cli.output.show(result)` looks the result up in VIEWS; commands never branch on
--json. A `View` says what a result becomes: `human(result)` the parts printed in order
(tables, lines, messages, warnings), `json(result)` the one document (default: the result
as JSON), `verdict(result)` the typed refusal raised once it is shown (under --json its error
object joins the report's document: one document, both read by cron), and `warnings` lines
for stderr in every mode.

Views are keyed by the result's class name (looked up along its MRO), so this module imports
no core module and survives a class moving between modules; a list is keyed `list[Name]`,
given by the command as `kind=` since an empty list cannot tell. A result type with no view
is an internal error naming it (`UnknownResult`), never a silent guess: register it here.
The few results the CLI assembles from two core calls (a leaderboard with names, the key
status with its source) are the small dataclasses of this module.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.jsonable import to_jsonable

if TYPE_CHECKING:
    from core.errors import AbbyError
    from core.rag.results import QueryResult

Result = Any  # the core's dataclasses and this module's; each view knows its own
MB = 1024 * 1024


@dataclass(frozen=True)
class Table:  # a record (key/value) or a list of records (a row each); TSV with --plain
    payload: Any
    title: str | None = None
    columns: Sequence[str] | None = None
    empty: str = "Nothing to show."


@dataclass(frozen=True)
class Message:  # a line for people on stdout (not with --plain)
    text: str


@dataclass(frozen=True)
class Caution:  # a warning line on stderr (a view's part, never raised: not the builtin Warning)
    text: str


@dataclass(frozen=True)
class Lines:  # text lines on stdout, also with --plain
    items: Sequence[str]


@dataclass(frozen=True)
class Raw:  # text written as it is: a key line, a prepared JSON document, cron lines
    text: str


Part = Table | Message | Caution | Lines | Raw


@dataclass(frozen=True)
class View:
    human: Callable[[Result], Iterable[Part]]
    json: Callable[[Result], Any] = to_jsonable
    verdict: Callable[[Result], AbbyError | int | None] | None = None
    warnings: Callable[[Result], Iterable[str]] | None = None


class UnknownResult(TypeError):
    """A command showed a result type that has no view (a programming error: add one)."""


VIEWS: dict[str, View] = {}


def add(
    names: str,
    human: Callable[[Result], Iterable[Part]] | None = None,
    *,
    columns: str | None = None,
    title: str | Callable[[Result], str | None] | None = None,
    empty: str = "Nothing to show.",
    rows: Callable[[Result], Any] | None = None,
    json: Callable[[Result], Any] | None = None,
    verdict: Callable[[Result], AbbyError | int | None] | None = None,
    warnings: Callable[[Result], Iterable[str]] | None = None,
) -> None:
    """Register the view of each space-separated name: `human`, or one table of
    `rows(result)` (default: the result itself) with `columns` (space-separated)."""

    def one_table(result: Result) -> list[Part]:
        shown = title(result) if callable(title) else title
        payload = rows(result) if rows is not None else result
        return [Table(payload, shown, columns.split() if columns else None, empty)]

    found = View(human or one_table, json or rows or to_jsonable, verdict, warnings)
    for name in names.split():
        VIEWS[name] = found


def lookup(result: object, kind: object = None) -> View:
    """The view of `result` (or of `kind`, for lists); UnknownResult when it has none."""
    if kind is not None:
        names = [kind if isinstance(kind, str) else getattr(kind, "__qualname__", str(kind))]
    elif isinstance(result, list) and result:
        names = [f"list[{type(result[0]).__qualname__}]"]
    else:
        names = [cls.__qualname__ for cls in type(result).__mro__]
    for name in names:
        if name in VIEWS:
            return VIEWS[name]
    raise UnknownResult(f"no view for result type {names[0]!r}: add one to abby_cli/render.py")


def _dry(title: str, done: str | None = None) -> Callable[[Result], str | None]:
    return lambda report: title if report.dry_run else done


# One key/value table (a list of them: rows), JSON as they are.
add(
    "dict list str list[dict] XpStatus XpChange XpGuildSettings Balance DailyClaim UserProfile"
    " SessionRecord PurgeReport ForgetReport RetiredKey GuildAccess PersonalityConfig Check"
    " ReindexReport BackupReport CommandChange"
)
add("ImportReport", title=_dry("Import (dry run): nothing was changed"))
add("RecoveryReport", title=_dry("Recovery (dry run)"))
add("list[LedgerEntry]", columns="at transfer_id amount balance_after counterparty reason",
    empty="No movements on this account.")  # fmt: skip
add("list[SessionRecord]", columns="session_id user_id guild_id channel_id status turns created_at",
    empty="No sessions.")  # fmt: skip
add("list[CommandChange]", title="slash commands", empty="No commands.")
add("DryRun", title="abby bot run --dry-run")
EVENT_COLUMNS = "ts type id payload"
add("Events", columns=EVENT_COLUMNS, empty="No events yet.")
# A failed required check is exit 1 with the checks shown (the JSON stays the list).
add("list[Check]", columns="name status detail",
    verdict=lambda checks: 1 if any(c.status == "fail" for c in checks) else None)  # fmt: skip


def _transfer(t: Result) -> list[Part]:
    columns = "transfer_id from_user to_user amount status replayed".split()
    return [Table(t, columns=columns if t.kind == "transfer" else None)]


add("Transfer", _transfer)


def _audit(report: Result) -> list[Part]:
    columns = "guild_id accounts total_balance minted burned transfers ok".split()
    return [
        Table(report.scopes, columns=columns, empty="No accounts yet."),
        Lines([f"problem: {p}" for p in report.problems]),
        Message("audit ok" if report.ok else "audit FAILED"),
    ]


def _refusal(name: str, message: str) -> AbbyError:
    import core.errors

    error: AbbyError = getattr(core.errors, name)(message)
    return error


add("AuditReport", _audit, verdict=lambda r: None if r.ok else _refusal(
    "AuditFailed", f"the books do not balance: {r.problems[0]}"))  # fmt: skip
add(
    "RestoreReport",
    verdict=lambda r: None if r.audit_ok is not False else _refusal(
        "AuditFailed", "the restored books do not balance: run `abby bank audit`"),
    warnings=lambda r: [r.keys.removeprefix("WARNING: ")] if r.keys.startswith("WARNING") else [],
)  # fmt: skip


@dataclass(frozen=True)
class XpRanking:  # leaderboard rows with each member's name (None without a profile)
    rows: Sequence[Any]
    names: Mapping[str, str]


class BankRanking(XpRanking):
    pass


def _named(ranking: XpRanking) -> list[dict[str, Any]]:
    return [{**to_jsonable(r), "name": ranking.names.get(r.user_id)} for r in ranking.rows]


add("XpRanking", columns="rank user_id name xp level xp_into_level xp_for_next", rows=_named,
    empty="No XP recorded in this scope yet.")  # fmt: skip
add("BankRanking", columns="rank user_id name balance", rows=_named,
    empty="No balances in this scope yet.")  # fmt: skip


@dataclass(frozen=True)
class Rewards:  # a guild's level role rewards, from its XP settings
    settings: Any


add("Rewards", columns="level role_id blocked", empty="No level rewards in this guild.",
    rows=lambda r: [{"level": level, "role_id": role, "blocked": role in r.settings.blocked_roles}
                    for level, role in r.settings.level_roles])  # fmt: skip

# --- the knowledge base ---------------------------------------------------------------------


def shown_path(source: str) -> str:
    """A source path relative to the current directory when it lies inside it."""
    if source.startswith("/"):
        try:
            relative = os.path.relpath(source)
        except ValueError:
            return source
        if not relative.startswith(".."):
            return relative
    return source


def _ingest(report: Result) -> list[Part]:
    columns = "documents added updated unchanged removed chunks seconds".split()
    parts: list[Part] = [Table(to_jsonable(report), columns=columns)]
    if report.skipped:
        skipped = [{"skipped": shown_path(s.path), "reason": s.reason} for s in report.skipped]
        warning = f"{len(report.skipped)} file(s) skipped, each with its reason above"
        parts += [Table(skipped), Caution(warning)]
    return parts


add("IngestReport", _ingest)


@dataclass(frozen=True)
class Hits:  # the passages a query found (core.rag.results.QueryResult); `full`: --full
    results: Sequence[QueryResult]
    full: bool = False


def _hits_json(hits: Hits) -> list[dict[str, Any]]:
    return [{**to_jsonable(r), "weak": r.weak} for r in hits.results]


def _snippet(text: str, full: bool, chars: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if full or len(flat) <= chars else flat[: chars - 1] + "…"


def _hits(hits: Hits) -> list[Part]:
    from core.rag.relevance import WEAK_BELOW

    rows = [
        {
            "#": rank,
            "score": f"{r.score:.3f}" + (" weak" if r.weak else ""),
            "title": r.title + (f" › {r.heading}" if r.heading else ""),
            "source": shown_path(r.source),
            "snippet": _snippet(r.text, hits.full),
        }
        for rank, r in enumerate(hits.results, 1)
    ]
    empty = "No results. Ingest documents first (abby rag ingest PATH), or lower --min-score."
    weak = sum(r.weak for r in hits.results)
    said = (
        f"{weak} of {len(hits.results)} hit(s) score below {WEAK_BELOW} (marked weak): probably"
        " not an answer; the knowledge base may not cover this question"
    )
    return [Table(rows, empty=empty), *([Caution(said)] if weak else [])]


add("Hits", _hits, json=_hits_json)
add("list[DocumentRecord]", empty="No documents yet: abby rag ingest PATH", json=to_jsonable,
    rows=lambda records: [
        {"doc_id": r.doc_id, "guild": r.guild_id or "(global)", "title": r.title,
         "source": shown_path(r.source), "chunks": r.chunk_count, "state": r.state,
         "ingested": r.ingested_at.strftime("%Y-%m-%d %H:%M")}
        for r in records
    ])  # fmt: skip


@dataclass(frozen=True)
class Deletion:  # a document deleted (or, in a dry run, that would be)
    document: Any
    dry_run: bool


def _deletion_json(d: Deletion) -> dict[str, Any]:
    return {"deleted": not d.dry_run, "dry_run": d.dry_run, "document": d.document}


def _deletion(d: Deletion) -> list[Part]:
    said = f"Would delete {d.document.title!r} ({d.document.chunk_count} chunks)."
    return [*([Message(said)] if d.dry_run else []), Table(_deletion_json(d))]


add("Deletion", _deletion, json=_deletion_json)


def _verify(r: Result) -> list[Part]:
    summary = {"ok": r.ok, "documents": r.documents, "vectors": r.vectors,
               "problems": len(r.problems)}  # fmt: skip
    return [Table(summary), *([Table(r.problems)] if r.problems else [])]


add("VerifyReport", _verify, verdict=lambda r: None if not r.problems or r.repaired else _refusal(
    "StoreInconsistent", f"{len(r.problems)} problem(s) in the knowledge base:"
    " run 'abby rag verify --repair' to fix them"))  # fmt: skip


def _eval(r: Result) -> list[Part]:
    summary = {name: getattr(r, name) for name in ("recall_at_k", "mrr", "ndcg_at_k", "k", "n")}
    return [Table(summary), *([Table(r.misses, title="Misses")] if r.misses else [])]


add("EvalReport", _eval)

# --- the database ---------------------------------------------------------------------------


class DbStatus(dict[str, Any]):
    """`AppContext.status()`: backend, location, schema versions and record counts."""


add("DbStatus", lambda s: [
    Table({k: s[k] for k in ("backend", "location", "schema")}),
    Table([{"table": name, "records": count} for name, count in s["tables"].items()],
          empty="No tables yet (run 'abby db init')."),
])  # fmt: skip


def _copy(report: Result) -> list[Part]:
    summary = report.to_dict()
    columns = "domain source_records target_records inserted unchanged conflicts".split()
    differ = f"{report.conflicts} record(s) differ on the target and were left as they are"
    return [
        Table([d.to_dict() for d in report.domains], columns=columns),
        Table({k: summary[k] for k in ("source", "target", "records", "seconds", "audit")}),
        *([Caution(differ)] if report.conflicts else []),
    ]


def _copy_refusal(r: Result) -> AbbyError | None:
    why = f"{r.conflicts} record(s) differ on the target" if r.conflicts else "an audit failed"
    return None if r.ok else _refusal("CopyIncomplete", f"the copy is not complete: {why}")


add("CopyReport", _copy, json=lambda r: r.to_dict(), verdict=_copy_refusal)

# --- keys -----------------------------------------------------------------------------------


def _generated_json(g: Result) -> dict[str, Any]:
    return {"id": g.id, "primary": True, "key_file": str(g.written_to)}


def _generated(g: Result) -> list[Part]:
    if g.written_to is None:  # the one place a key is shown: asked for, on stdout only
        said = "this line is a secret: put it in the key file (mode 0600) or the env"
        return [Raw(g.key.line + "\n"), Caution(said)]
    said = "new records use this key now; run `abby keys rotate` to re-encrypt older ones"
    return [Table(_generated_json(g)), Caution(said)]


add("GeneratedKey", _generated, json=_generated_json)


@dataclass(frozen=True)
class KeyState:  # the ring's key ids with the records each protects, and the keys' source
    source: str
    keys: Sequence[Any]


def _keys(k: KeyState) -> list[Part]:
    rows = [{"id": r.id, "primary": "yes" if r.primary else "", "records": r.records,
             "state": "in ring" if r.in_ring else "UNKNOWN (not in the ring)"}
            for r in k.keys]  # fmt: skip
    empty = "No keys configured; create one with `abby keys generate --write`."
    lost = "some records name a key that is not in the ring: they cannot be decrypted"
    table = Table(rows, title=f"Keys from {k.source}", empty=empty)
    return [table, *([Caution(lost)] if any(not r.in_ring for r in k.keys) else [])]


add("KeyState", _keys, json=lambda k: {"source": k.source, "keys": [
    {f: getattr(r, f) for f in ("id", "primary", "records", "in_ring")} for r in k.keys
]})  # fmt: skip


def _rotation(r: Result) -> list[Part]:
    said = (f"dry run: would re-encrypt {r.would_rotate} record(s) under key {r.primary};"
            " nothing was changed")  # fmt: skip
    return [Table(r), *([Message(said)] if r.dry_run else [])]


add("RotationReport", _rotation, verdict=lambda r: None if not (
    r.unknown_key or r.undecryptable) else _refusal("RotationIncomplete",
    f"{r.unknown_key} record(s) under keys not in the ring and "
    f"{r.undecryptable} that did not decrypt were left unchanged"))  # fmt: skip

# --- storage --------------------------------------------------------------------------------


def _quota(status: Result) -> list[Part]:
    q = status.as_dict()
    g, u, d = q["global"], q["user"], q["daily"]
    rows = [
        {"quota": "storage (all users)", "used": f"{g['used_mb']} MB",
         "limit": f"{g['total_mb']} MB", "percent": g["percentage"], "status": g["status"]},
        {"quota": f"storage ({status.user_id})", "used": f"{u['used_mb']} MB",
         "limit": f"{u['limit_mb']} MB", "percent": u["percentage"], "status": u["status"]},
        {"quota": "images today", "used": d["used"], "limit": d["limit"],
         "percent": round(100 * d["used"] / d["limit"], 1) if d["limit"] else None,
         "status": f"{d['remaining']} left, resets in {d['reset_hours']} h"},
    ]  # fmt: skip
    return [Table(rows, title=f"Quota of {status.user_id}")]


add("QuotaStatus", _quota, json=lambda status: status.as_dict())  # the seed's shape


@dataclass(frozen=True)
class Files:  # a member's stored images, with their paths under the storage root
    records: Sequence[Any]
    root: Path
    user_id: str


add("Files", lambda f: [Table(_files(f), empty=f"No stored images for {f.user_id}.")],
    json=lambda f: _files(f))  # fmt: skip


def _files(f: Files) -> list[dict[str, Any]]:
    return [
        {"file_id": r.file_id, "guild_id": r.guild_id, "bytes": r.bytes,
         "kind": "kept" if r.kept else "temporary", "created_at": r.created_at,
         "model": r.metadata.get("model"), "style": r.metadata.get("style"),
         "seed": r.metadata.get("seed"), "path": str(f.root / r.path)}
        for r in f.records
    ]  # fmt: skip


@dataclass(frozen=True)
class FileDeletion:  # a stored file deleted, or (dry run) that would be
    file_id: str | None
    path: str
    bytes: int
    dry_run: bool


add("FileDeletion", title=_dry("Would delete", "Deleted"))
add("FileRecord", title=lambda r: "Kept" if r.kept else "Temporary", rows=lambda r: {
    "file_id": r.file_id, "user_id": r.user_id, "kind": "kept" if r.kept else "temporary"
})  # fmt: skip


@dataclass(frozen=True)
class Usage:  # total storage use from the records and the biggest users, against the limit
    usage: Any
    limit_mb: float


def _usage_json(u: Usage) -> dict[str, Any]:
    total_mb = u.usage.total_bytes / MB
    return {
        "total_mb": round(total_mb, 3),
        "total_files": u.usage.total_files,
        "global_limit_mb": u.limit_mb,
        "percentage": round(100 * total_mb / u.limit_mb, 2),
        "top_users": [{"user_id": t.owner, "mb": round(t.bytes / MB, 3), "files": t.files}
                      for t in u.usage.users],
    }  # fmt: skip


def _usage(u: Usage) -> list[Part]:
    report = _usage_json(u)
    top = Table(report.pop("top_users"), title="Biggest users", empty="No stored files yet.")
    return [Table(report, title="Storage usage"), top]


add("Usage", _usage, json=_usage_json)
add("CleanupReport", lambda r: [
    Table(r, title="Cleanup (dry run)" if r.dry_run else "Cleanup"),
    *([] if r.files_deleted or r.orphans_removed else [Message("Nothing to clean up.")]),
])  # fmt: skip

# --- files written, images stored -----------------------------------------------------------


@dataclass(frozen=True)
class Written:  # a document written to a file (-o), or printed whole when there is none
    document: str
    out: Path | None
    receipt: Mapping[str, Any] = field(default_factory=dict)  # the --json answer for a file
    said: str = ""  # the line for people for a file


add("Written", lambda w: [Raw(w.document) if w.out is None else Message(w.said)],
    json=lambda w: Raw(w.document) if w.out is None else w.receipt)  # fmt: skip


@dataclass(frozen=True)
class StoredImage:  # an image generated (or edited, upscaled) and stored; `output` a copy
    result: Any
    output: Path | None = None


def _image(s: StoredImage) -> dict[str, Any]:
    data = {k: v for k, v in dataclasses.asdict(s.result).items() if k != "content_type"}
    return data if s.output is None else {**data, "output": s.output}


add("StoredImage", title="Image stored", rows=_image)

# --- set-up, settings, conversations --------------------------------------------------------


def _setup(r: Result) -> list[Part]:
    summary = {"config_file": r.config_file, "data_dir": r.data_dir, "backend": r.backend,
               "key_file": r.key_file or "ABBY_ENCRYPTION_KEYS", "key_created": r.key_created,
               "model": r.model or "not built"}  # fmt: skip
    cron = "".join(f"{line}\n" for line in r.cron)
    return [
        Table(summary, title="Abby is set up"),
        Raw(f"\n# crontab -e (these lines use this config, whatever cron's environment):\n{cron}"
            "\n# ~/.config/systemd/user/abby.service, then: systemctl --user enable --now abby\n"
            + r.systemd_unit),
    ]  # fmt: skip


add("SetupResult", _setup)


def _masked(value: object) -> object:
    """The dumped settings with the credentials of every URL inside them masked."""
    from core.urls import mask_urls

    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return mask_urls(value) if isinstance(value, str) else value


def _settings_json(settings: Result) -> dict[str, Any]:
    data = _masked(settings.model_dump(mode="json"))  # SecretStr dumps as '**********'
    sources = {"config_file": settings.config_source, "data_dir": settings.data_dir_source}
    return {**data, "sources": sources} if isinstance(data, dict) else {}


def _flatten(data: Mapping[str, Any], model: object, prefix: str = "") -> list[str]:
    """`section.key = value` lines: settings sections nest, every other value is one line."""
    import json

    from pydantic import BaseModel

    lines: list[str] = []
    for key, value in data.items():
        section = getattr(model, key, None)
        if isinstance(section, BaseModel):
            lines.extend(_flatten(value, section, f"{prefix}{key}."))
        else:
            lines.append(f"{prefix}{key} = {json.dumps(value, ensure_ascii=False)}")
    return lines


def _settings(settings: Result) -> list[Part]:
    data = _settings_json(settings)
    sources = data.pop("sources")
    return [Lines([*_flatten(data, settings), f"# config_file from: {sources['config_file']}",
                   f"# data_dir from: {sources['data_dir']}"])]  # fmt: skip


add("Settings", _settings, json=_settings_json)


@dataclass(frozen=True)
class Reply:  # `abby ask`'s answer (already on stdout when `streamed`) and its sources
    answer: Any
    model: str
    user_id: str | None
    streamed: bool


def _reply_json(r: Reply) -> dict[str, Any]:
    sources = [s.to_dict() for s in r.answer.sources]
    document = {"reply": r.answer.reply, "model": r.model, "sources": sources}
    return document if r.user_id is None else {**document, "session_id": r.answer.session_id}


def _reply(r: Reply) -> list[Part]:
    sources = [f"  source: {s['title'] or s['source']} ({s['score']:.2f})"
               for s in _reply_json(r)["sources"]]  # fmt: skip
    return [Lines([*([] if r.streamed else [r.answer.reply]), *sources])]


add("Reply", _reply, json=_reply_json)


@dataclass(frozen=True)
class Conversation:  # `abby chat` once it ended: the turns, and the closed session
    turns: Sequence[Mapping[str, Any]]
    closed: Any


add("Conversation",
    lambda c: [] if c.closed is None else [Lines([f"summary: {c.closed.summary or '(none)'}",
                                                  c.closed.line])],
    json=lambda c: {"session_id": c.closed.session_id if c.closed else None,
                    "turns": list(c.turns), "summary": c.closed.summary if c.closed else None},
)  # fmt: skip
