"""`abby session`: list, show, dump, close and purge conversation sessions.

`list` and `show` print metadata only. `dump` is the one command that prints decrypted
content, and it records a governance event saying who dumped which session.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from abby_cli import options, output, runtime
from abby_cli.options import (
    DryRunOpt,
    JsonOpt,
    LimitOpt,
    UserOpt,
    YesOpt,
    actor,
    check_output_path,
    output_path_option,
    parse_duration,
)

if TYPE_CHECKING:
    from core.sessions import Transcript

app = typer.Typer(
    help="Conversation sessions: list, show, dump, close, purge.", no_args_is_help=True
)


class DumpFormat(StrEnum):
    json = "json"
    md = "md"


@app.command("list")
def list_sessions(
    user: UserOpt = None,
    guild: Annotated[
        str | None,
        typer.Option("--guild", "-g", help="Only this guild ('global' for the global scope)."),
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="active, closed or expired.")
    ] = None,
    limit: LimitOpt = 50,
    json_out: JsonOpt = False,
) -> None:
    """Sessions, newest first: metadata only, never content."""
    scope = options.scope_option(guild, every=True)
    rows = runtime.context().sessions.list(user_id=user, scope=scope, status=status, limit=limit)
    output.show(rows, kind="list[SessionRecord]")


@app.command()
def show(session_id: str, json_out: JsonOpt = False) -> None:
    """One session's metadata (status, turns, timestamps). Content needs `dump`."""
    output.show(runtime.context().sessions.require(session_id))


@app.command()
def close(
    session_id: str,
    summary: Annotated[
        str | None, typer.Option("--summary", help="Summary text, stored encrypted.")
    ] = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Close SESSION_ID (active or expired), optionally with an encrypted summary.

    A closed session takes no more messages: it asks first (--yes without a terminal).
    """
    sessions = runtime.context().sessions
    record = sessions.close(session_id, summary, dry_run=True)  # unknown or closed: say so first
    output.confirm(f"close session {session_id}", yes=yes, dry_run=dry_run)
    dry = {"dry_run": True, "would_close": True, "session": record}
    output.show(dry if dry_run else sessions.close(session_id, summary))


@app.command()
def dump(
    session_id: str,
    fmt: Annotated[
        DumpFormat | None,
        typer.Option("--format", "-f", help="json or md (default: md; json with --json)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to FILE (mode 0600); its folder must exist.",
            callback=output_path_option,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Print the decrypted transcript of SESSION_ID (recorded as a governance event).

    A message that cannot be decrypted (tampered, or its key is no longer in the ring) is
    shown as [undecryptable: reason] with its seq, the rest is still shown, stored data is
    never changed, and a warning on stderr names the affected seqs; the exit code stays 0.
    """
    from abby_cli import render

    transcript = runtime.context().sessions.transcript(session_id, actor=actor())
    chosen = fmt or (DumpFormat.json if runtime.state.json else DumpFormat.md)
    document = _as_json(transcript)
    text = _json_text(document) if chosen is DumpFormat.json else _as_markdown(transcript, document)
    if out is not None:  # as sensitive as the keys: 0600, written whole or not at all
        from core.paths import atomic_write

        atomic_write(check_output_path(out.expanduser()), text.encode("utf-8"), mode=0o600)
    receipt = {
        "session_id": transcript.session.session_id,
        "written": str(out),
        "messages": len(transcript.messages),
        "undecryptable": transcript.undecryptable,
    }
    said = f"wrote {len(transcript.messages)} messages to {out}"
    output.show(render.Written(text, out, receipt=receipt, said=said))
    bad = transcript.undecryptable
    if bad or transcript.summary_error:
        parts = [f"message seq {', '.join(map(str, bad))}"] if bad else []
        parts += ["the summary"] if transcript.summary_error else []
        output.warn(f"could not decrypt {' and '.join(parts)}; shown as [undecryptable: ...]")


@app.command()
def purge(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Age since the session ended, e.g. 30d, 12h, 2w (default: retention_days).",
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete closed and expired sessions (with their messages) that ended long ago.

    Idle sessions are marked expired first. Suitable for cron: `abby session purge --yes`.
    """
    age = parse_duration(older_than) if older_than is not None else None
    output.confirm("delete ended sessions and their messages", yes=yes, dry_run=dry_run)
    output.show(runtime.context().sessions.purge(age, dry_run=dry_run, actor=actor()))


# --- rendering -----------------------------------------------------------------------------


def _undecryptable(reason: str | None) -> str:
    return f"[undecryptable: {reason}]"


def _as_json(transcript: Transcript) -> dict[str, Any]:
    session = transcript.session
    summary = (
        _undecryptable(transcript.summary_error) if transcript.summary_error else transcript.summary
    )
    return output.to_jsonable(
        {
            "session_id": session.session_id,
            "user_id": session.user_id,
            "guild_id": session.guild_id,
            "channel_id": session.channel_id,
            "status": session.status,
            "created_at": session.created_at,
            "closed_at": session.closed_at,
            "summary": summary,
            "messages": [
                {
                    "seq": m.seq,
                    "role": m.role,
                    "content": m.content if m.error is None else _undecryptable(m.error),
                    "at": m.at,
                    **({"error": m.error} if m.error else {}),
                }
                for m in transcript.messages
            ],
            "undecryptable": transcript.undecryptable,
        }
    )


def _json_text(document: object) -> str:
    import json

    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _as_markdown(transcript: Transcript, document: dict[str, Any]) -> str:
    session = transcript.session
    scope = session.guild_id or "global"
    lines = [
        f"# Session {session.session_id}",
        "",
        f"- user: {session.user_id}, guild: {scope}, channel: {session.channel_id}",
        f"- status: {session.status}, turns: {session.turns}",
        f"- created: {document['created_at']}, closed: {document['closed_at'] or '-'}",
        "",
    ]
    if document["summary"] is not None:
        lines += ["## Summary", "", document["summary"], ""]
    lines += ["## Transcript", ""]
    for message in document["messages"]:
        lines += [f"**{message['role']}** (#{message['seq']}, {message['at']})", ""]
        lines += [message["content"], ""]
    return "\n".join(lines)
