"""Interactions as the Discord stand-in answers them: callbacks, follow-ups, their edits.

`Interaction` records what a member saw in answer to one slash command or button press;
`InteractionAnswers` (mixed into `tests.support.discord_standin.DiscordStandIn`) applies
Discord's rules to the bot's callbacks and webhook calls, under the stand-in's lock.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.support.discord_messages import (
    EPHEMERAL,
    LOADING,
    File,
    limits,
    snowflake,
)

if TYPE_CHECKING:
    from tests.support.discord_standin import DiscordStandIn

INTERACTION_DEADLINE = 3.0
TOKEN_LIFETIME = 15 * 60.0  # an interaction token's follow-ups and edits work this long


@dataclass
class Reply:
    """One message a member saw in answer to an interaction (or a refused attempt)."""

    kind: str  # "callback", "followup", "edit"
    type: int | None  # the callback type (4, 5, 6, 7) or None
    content: str
    embeds: list[dict[str, Any]]
    ephemeral: bool  # the visibility Discord applied, not the flags asked for
    payload: dict[str, Any]
    at: float
    status: int = 200
    message_id: str | None = None  # the message this reply created or changed
    attachments: list[dict[str, Any]] = field(default_factory=list)  # filename, size, data


@dataclass
class Interaction:
    id: str
    token: str
    name: str  # the command, or "press:<custom_id>" for a button press
    user_id: int
    sent_at: float
    standin: DiscordStandIn
    replies: list[Reply] = field(default_factory=list)
    errors: list[tuple[int, int]] = field(default_factory=list)  # (status, Discord code)
    deferred_ephemeral: bool | None = None
    followups: int = 0
    channel_id: str = ""
    target: str | None = None  # a press: the message whose component was pressed
    original: str | None = None  # the message "@original" names once answered

    @property
    def acknowledged(self) -> bool:
        return any(r.kind == "callback" for r in self.replies)

    def wait_reply(self, timeout: float = 10.0) -> Reply:
        """The first visible message: a type-4/7 callback, or the follow-up/edit after a defer."""

        def visible() -> Reply | None:
            return next(
                (r for r in self.replies if r.type not in (5, 6) and r.kind != "delete"), None
            )

        return self.standin.wait_for(visible, timeout, f"a reply to /{self.name}")

    def wait_settled(self, timeout: float = 10.0) -> Reply | None:
        """The first visible reply, or None once Discord refused an answer (10062, 40060)."""

        def settled() -> tuple[Reply | None] | None:
            reply = next(
                (r for r in self.replies if r.type not in (5, 6) and r.kind != "delete"), None
            )
            if reply is not None or self.errors:
                return (reply,)
            return None

        return self.standin.wait_for(settled, timeout, f"an outcome of /{self.name}")[0]

    def wait_acknowledged(self, timeout: float = 10.0) -> Reply:
        return self.standin.wait_for(
            lambda: next((r for r in self.replies if r.kind == "callback"), None),
            timeout,
            f"an answer to /{self.name}",
        )


class InteractionAnswers:
    """Callbacks and webhook calls of the stand-in (see the module docstring)."""

    def _by_token(self, token: str) -> Interaction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    def _reply(self, record: Interaction, reply: Reply) -> None:
        record.replies.append(reply)
        self._cond.notify_all()

    def _refuse(
        self, record: Interaction | None, status: int, code: int, message: str
    ) -> tuple[int, Any]:
        if record is not None:
            record.errors.append((status, code))
            self._cond.notify_all()
        return status, {"message": message, "code": code}

    @property
    def _in_process(self) -> bool:
        """No gateway client identified: the test built its interactions in process."""
        return not self.identified

    def _adopt(self, interaction_id: str, token: str) -> Interaction:
        """An interaction a test built itself (no gateway): known from its first answer,
        with its 3 seconds counted from then; a press gets a message to act on."""
        channel_id = str(self.channel_ids[0])
        record = Interaction(
            interaction_id, token, "?", 0, time.monotonic(), self, channel_id=channel_id
        )
        self.interactions[interaction_id] = record
        return record

    def _callback(
        self, interaction_id: str, token: str, payload: dict[str, Any], files: list[File]
    ) -> tuple[int, Any]:
        record = self.interactions.get(interaction_id)
        if record is None and self._in_process:
            record = self._adopt(interaction_id, token)
        if (
            record is not None
            and record.target is None
            and self._in_process
            and payload["type"] in (6, 7)
        ):
            record.target = self._create(record.channel_id, {}, []).id
        if record is None or time.monotonic() - record.sent_at > INTERACTION_DEADLINE:
            return self._refuse(record, 404, 10062, "Unknown interaction")
        if record.acknowledged:
            return self._refuse(record, 400, 40060, "Interaction has already been acknowledged.")
        kind = payload["type"]
        data = payload.get("data") or {}
        if kind in (6, 7) and record.target is None:
            return self._refuse(record, 400, 50035, "Invalid Form Body: type only for components")
        if kind in (4, 7) and (error := limits(data)):
            return self._refuse(record, 400, 50035, json.dumps(error))
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        visible_to = record.user_id if ephemeral else None
        if kind == 4:
            message = self._create(
                record.channel_id,
                data,
                files,
                visible_to=visible_to,
                token=record.token,
                flags=EPHEMERAL if ephemeral else 0,
            )
        elif kind == 5:
            record.deferred_ephemeral = ephemeral
            flags = LOADING | (EPHEMERAL if ephemeral else 0)
            message = self._create(
                record.channel_id, {}, [], visible_to=visible_to, token=record.token, flags=flags
            )
        else:  # 6, 7: the pressed message itself; 7 changes it now
            message = self._messages[record.target]  # type: ignore[index]
            ephemeral = message.visible_to is not None
            if kind == 7:
                message.apply(data, files)
                message.edits.append((time.monotonic(), message.content))
        record.original = message.id
        self._reply(
            record,
            Reply(
                "callback",
                kind,
                data.get("content") or "",
                data.get("embeds") or [],
                ephemeral,
                payload,
                time.monotonic(),
                message_id=message.id,
                attachments=message.state()["attachments"] if kind in (4, 7) else [],
            ),
        )
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 7):
            resource["message"] = message.wire(self.root_url)
        answer = {
            "id": interaction_id,
            "type": 3 if record.target else 2,
            "response_message_id": message.id,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": ephemeral,
        }
        return 200, {"interaction": answer, "resource": resource}

    def _webhook(
        self,
        method: str,
        token: str,
        ref: str | None,
        payload: Any,
        files: list[File],
    ) -> tuple[int, Any, dict[str, str]]:
        record = self._by_token(token)
        if record is None and self._in_process:
            record = self._adopt(snowflake(), token)
            self._reply(record, Reply("callback", 5, "", [], False, {}, time.monotonic()))
        if record is None or not record.acknowledged:
            return (*self._refuse(record, 404, 10015, "Unknown Webhook"), {})
        if time.monotonic() - record.sent_at > TOKEN_LIFETIME:
            return (*self._refuse(record, 401, 50027, "Invalid Webhook Token"), {})
        payload = payload or {}
        if method in ("POST", "PATCH") and (error := limits(payload)):
            return (*self._refuse(record, 400, 50035, json.dumps(error)), {})
        now = time.monotonic()
        if ref is None:
            if method != "POST":
                return 405, {"message": "405: Method Not Allowed", "code": 0}, {}
            return (*self._followup(record, payload, files), {})
        message_id = record.original if ref == "@original" else ref
        message = self._messages.get(message_id or "")
        if message is None or message.deleted or (ref != "@original" and message.token != token):
            return (*self._refuse(record, 404, 10008, "Unknown Message"), {})
        if method == "GET":
            return 200, message.wire(self.root_url), {}
        if method == "DELETE":
            message.deleted = True
            if ref == "@original":
                # The deferred message is gone: later follow-ups are new messages with
                # their own flags (how a bot turns a public defer into a private error).
                record.deferred_ephemeral = None
            self._reply(
                record, Reply("delete", None, "", [], False, {}, now, message_id=message.id)
            )
            return 204, None, {}
        if method != "PATCH":
            return 405, {"message": "405: Method Not Allowed", "code": 0}, {}
        status, answer, headers = self._edit(
            message, payload, files, f"/webhooks/.../messages/{ref}"
        )
        if status == 200:
            message.flags &= ~LOADING
            # An edit keeps the visibility of the message it edits.
            self._reply(
                record,
                Reply(
                    "edit",
                    None,
                    payload.get("content") or "",
                    payload.get("embeds") or [],
                    message.visible_to is not None,
                    payload,
                    now,
                    message_id=message.id,
                    attachments=message.state()["attachments"],
                ),
            )
        return status, answer, headers

    def _followup(
        self, record: Interaction, payload: dict[str, Any], files: list[File]
    ) -> tuple[int, Any]:
        asked = bool(int(payload.get("flags") or 0) & EPHEMERAL)
        loading = self._messages.get(record.original or "")
        # The first follow-up after a defer *is* the deferred message: it keeps the defer's
        # visibility (a public defer makes an "ephemeral" follow-up public). Once an edit of
        # @original replaced the loading state, a follow-up is a message of its own.
        if (
            record.deferred_ephemeral is not None
            and record.followups == 0
            and loading is not None
            and loading.flags & LOADING
        ):
            ephemeral = record.deferred_ephemeral
            message = loading
            message.apply(payload, files)
            message.flags &= ~LOADING
        else:
            ephemeral = asked
            message = self._create(
                record.channel_id,
                payload,
                files,
                visible_to=record.user_id if ephemeral else None,
                token=record.token,
                flags=EPHEMERAL if ephemeral else 0,
            )
        record.followups += 1
        self._reply(
            record,
            Reply(
                "followup",
                None,
                payload.get("content") or "",
                payload.get("embeds") or [],
                ephemeral,
                payload,
                time.monotonic(),
                message_id=message.id,
                attachments=message.state()["attachments"],
            ),
        )
        return 200, message.wire(self.root_url)
