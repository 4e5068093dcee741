"""Messages as the Discord stand-in keeps them: state, request bodies, Discord's limits.

`tests.support.discord_standin` creates a `SentMessage` for every message the bot makes (a
channel post, an interaction response, a follow-up, a DM) and edits it in place on PATCH, so
a test reads what a member would see now (`sent_message(id)`), and the bot gets back message
objects that carry their components (discord.py needs them to dispatch a View's buttons).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

APPLICATION_ID = 900000000000000001
BOT_USER = {
    "id": str(APPLICATION_ID),
    "username": "abby",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}
EPHEMERAL = 1 << 6
LOADING = 1 << 7  # a deferred response's "is thinking..." message
# Discord's default upload limit for bots (the interaction's attachment_size_limit).
ATTACHMENTS_LIMIT = 10 * 1024 * 1024
_ids = itertools.count(910000000000000000)


def snowflake() -> str:
    return str(next(_ids))


@dataclass
class File:
    """One uploaded file of a multipart request (`files[n]`)."""

    index: int
    filename: str
    data: bytes


@dataclass
class SentMessage:
    id: str
    channel_id: str
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)  # id, filename, size, data
    flags: int = 0
    visible_to: int | None = None  # the one member who sees an ephemeral message
    token: str | None = None  # the interaction whose webhook may edit it
    deleted: bool = False
    edits: list[tuple[float, str]] = field(default_factory=list)

    def apply(self, payload: dict[str, Any], files: list[File]) -> None:
        """Apply a create or edit body: keys present replace, keys absent are kept."""
        if "content" in payload:
            self.content = payload["content"] or ""
        if "embeds" in payload:
            self.embeds = payload["embeds"] or []
        if "components" in payload:
            self.components = payload["components"] or []
        new = [
            {"id": snowflake(), "filename": f.filename, "size": len(f.data), "data": f.data}
            for f in files
        ]
        if "attachments" in payload:
            # An edit lists the attachments to keep by id; new uploads are referenced by index.
            keep = {str(a.get("id")) for a in payload["attachments"] or []}
            self.attachments = [a for a in self.attachments if a["id"] in keep] + new
        else:
            self.attachments += new

    def state(self) -> dict[str, Any]:
        """What a member sees now (attachments with their bytes)."""
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "content": self.content,
            "embeds": self.embeds,
            "components": self.components,
            "attachments": [
                {"filename": a["filename"], "size": a["size"], "data": a["data"]}
                for a in self.attachments
            ],
            "flags": self.flags,
            "ephemeral": self.visible_to is not None,
            "visible_to": self.visible_to,
            "deleted": self.deleted,
        }

    def wire(self, base_url: str = "") -> dict[str, Any]:
        """The message object Discord returns and puts in a component interaction."""
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "type": 0,
            "content": self.content,
            "author": BOT_USER,
            "embeds": self.embeds,
            "attachments": [
                {
                    "id": a["id"],
                    "filename": a["filename"],
                    "size": a["size"],
                    "url": f"{base_url}/attachments/{self.id}/{a['id']}/{a['filename']}",
                    "proxy_url": f"{base_url}/attachments/{self.id}/{a['id']}/{a['filename']}",
                }
                for a in self.attachments
            ],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "timestamp": "2026-03-01T12:00:00+00:00",
            "edited_timestamp": "2026-03-01T12:00:01+00:00" if self.edits else None,
            "tts": False,
            "pinned": False,
            "flags": self.flags,
            "components": self.components,
            "application_id": str(APPLICATION_ID),
        }

    def component(self, custom_id: str) -> dict[str, Any] | None:
        for row in self.components:
            for item in row.get("components", []) if row.get("type") == 1 else [row]:
                if item.get("custom_id") == custom_id:
                    return item
        return None


def parse_body(content_type: str, body: bytes) -> tuple[Any, list[File]]:
    """The JSON payload (a multipart upload's `payload_json`) and the uploaded files."""
    if not body:
        return None, []
    if not content_type.startswith("multipart/form-data"):
        return json.loads(body), []
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    payload: Any = {}
    files = []
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        if name == "payload_json":
            payload = json.loads(part.get_content())
        elif name.startswith("files["):
            data = part.get_payload(decode=True) or b""
            files.append(File(int(name[6:-1]), part.get_filename() or "file", data))
    return payload, files


def too_large(files: list[File]) -> dict[str, Any] | None:
    """Discord's 413 for uploads over the limit, else None."""
    if sum(len(f.data) for f in files) > ATTACHMENTS_LIMIT:
        return {"message": "Request entity too large", "code": 40005}
    return None


def limits(message: dict[str, Any]) -> dict[str, Any] | None:
    """Discord's 400 Invalid Form Body for a message over a limit, else None."""
    problems: dict[str, str] = {}
    if len(message.get("content") or "") > 2000:
        problems["content"] = "Must be 2000 or fewer in length."
    embeds = message.get("embeds") or []
    if len(embeds) > 10:
        problems["embeds"] = "Must be 10 or fewer in length."
    for n, card in enumerate(embeds):
        fields = card.get("fields") or []
        sizes = {
            "title": (len(card.get("title") or ""), 256),
            "description": (len(card.get("description") or ""), 4096),
            "footer.text": (len((card.get("footer") or {}).get("text") or ""), 2048),
            "author.name": (len((card.get("author") or {}).get("name") or ""), 256),
        }
        for key, (size, limit) in sizes.items():
            if size > limit:
                problems[f"embeds.{n}.{key}"] = f"Must be {limit} or fewer in length."
        if len(fields) > 25:
            problems[f"embeds.{n}.fields"] = "Must be 25 or fewer in length."
        for m, entry in enumerate(fields):
            if len(entry.get("name") or "") > 256:
                problems[f"embeds.{n}.fields.{m}.name"] = "Must be 256 or fewer in length."
            if len(entry.get("value") or "") > 1024:
                problems[f"embeds.{n}.fields.{m}.value"] = "Must be 1024 or fewer in length."
        total = sum(size for size, _ in sizes.values()) + sum(
            len(f.get("name") or "") + len(f.get("value") or "") for f in fields
        )
        if total > 6000:
            problems[f"embeds.{n}"] = f"Embed size exceeds maximum size of 6000 ({total})"
    problems.update(_component_problems(message.get("components") or []))
    if not problems:
        return None
    return {"message": "Invalid Form Body", "code": 50035, "errors": problems}


SELECTS = (3, 5, 6, 7, 8)


def _component_problems(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Discord's rules for classic components: 5 action rows of 5 buttons or 1 select,
    custom ids of 1-100 characters unique in the message, 80-character labels, 25 options."""
    problems: dict[str, str] = {}
    if len(rows) > 5:
        problems["components"] = "Must be 5 or fewer in length."
    seen: set[str] = set()
    for n, row in enumerate(rows):
        if row.get("type") != 1:
            continue  # components v2 layouts are not checked here
        items = row.get("components") or []
        where = f"components.{n}.components"
        if not items or len(items) > 5:
            problems[where] = "Must be between 1 and 5 in length."
        if any(i.get("type") in SELECTS for i in items) and len(items) > 1:
            problems[where] = "A select menu must be alone in its action row."
        for m, item in enumerate(items):
            custom_id = item.get("custom_id")
            is_link = item.get("type") == 2 and item.get("style") in (5, 6)
            if not is_link:
                if not custom_id or len(custom_id) > 100:
                    problems[f"{where}.{m}.custom_id"] = "Must be between 1 and 100 in length."
                elif custom_id in seen:
                    problems[f"{where}.{m}.custom_id"] = "Component custom id cannot be duplicated"
                seen.add(custom_id or "")
            if len(item.get("label") or "") > 80:
                problems[f"{where}.{m}.label"] = "Must be 80 or fewer in length."
            if item.get("type") == 3 and not 1 <= len(item.get("options") or []) <= 25:
                problems[f"{where}.{m}.options"] = "Must be between 1 and 25 in length."
            if len(item.get("placeholder") or "") > 150:
                problems[f"{where}.{m}.placeholder"] = "Must be 150 or fewer in length."
    return problems
