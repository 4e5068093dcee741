"""Abby's error tree: every failure the core reports, with its exit code and machine code.

```
AbbyError              1  unexpected / internal
├─ InvalidInput        2  bad value reached the core (ValueError too)
│  ├─ InvalidAmount         (amount not an int, zero, negative, too large)
│  │  └─ AmountNotInteger   (a float, bool or string amount: also a TypeError)
│  ├─ UnsafePath            (path escapes its root)
│  ├─ IdempotencyConflict   (same key, different transfer)
│  ├─ Undecryptable         (tampered ciphertext, or made by a key not in the ring)
│  ├─ BackupInvalid         (truncated or edited backup archive)
│  └─ BackupTooNew          (a backup from a newer record schema)
├─ NotFound            3  UnknownUser, UnknownSession, UnknownDocument, UnknownFile, UnknownKey,
│                          UnknownPersona
├─ Refused             4  InsufficientFunds, QuotaExceeded, OnCooldown, KeyInUse, AuditFailed,
│                          SessionClosed, Cancelled, LimitExceeded
├─ ExternalRefusal     5  ContentModerated, OutOfCredits
├─ TemporaryFailure   75  RateLimited, ServiceUnavailable
│  └─ StorageUnavailable    (a write the file system refused; `storage_error()` builds one)
│     ├─ DiskFull           (no space left, quota exceeded, file size limit)
│     └─ ReadOnlyStorage    (read-only file system or database)
│  └─ BadResponse          (a ServiceUnavailable: malformed or truncated answer)
│     └─ ResponseTooLarge  (its body passed the endpoint's size cap)
└─ ConfigError        78  bad or unknown key, missing secret, backend unavailable
   ├─ DatabaseLost          (abby.db missing or emptied after a schema was created)
   ├─ DatabaseCorrupt       (abby.db is not a SQLite database, or is damaged)
   └─ MissingKey            (no encryption key configured)
```

Each class carries `exit_code` (the CLI's process exit code) and `code` (a stable string for
`--json` errors and the bot). Messages are one line and never carry secrets or user content.
"""

from __future__ import annotations

import errno
import os
from enum import IntEnum

from core.urls import mask_urls


class ExitCode(IntEnum):
    """Process exit codes of the `abby` command (DESIGN.md section 5)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    REFUSED = 4
    EXTERNAL_REFUSAL = 5
    TEMPORARY = 75  # os.EX_TEMPFAIL
    CONFIG = 78  # os.EX_CONFIG


class AbbyError(Exception):
    """Base of every error the core raises on purpose."""

    exit_code: int = ExitCode.FAILURE
    code: str = "internal"

    def __init__(self, message: str = "", **fields: object) -> None:
        # Messages name URLs (an unreachable server); their credentials are never shown.
        message = mask_urls(message) if isinstance(message, str) else message
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        return self.message or self.__class__.__name__


class InvalidInput(AbbyError, ValueError):
    exit_code = ExitCode.USAGE
    code = "invalid_input"


class InvalidAmount(InvalidInput):
    code = "invalid_amount"


class AmountNotInteger(InvalidAmount, TypeError):
    """An amount that is not an int (a float, a bool, a string): also a TypeError."""

    code = "amount_not_integer"


class UnsafePath(InvalidInput):
    code = "unsafe_path"


class IdempotencyConflict(InvalidInput):
    code = "idempotency_conflict"


class Undecryptable(InvalidInput):
    """A ciphertext that is malformed, tampered with, or not made by any key of the ring."""

    code = "undecryptable"


class NotFound(AbbyError, LookupError):
    exit_code = ExitCode.NOT_FOUND
    code = "not_found"


class UnknownUser(NotFound):
    code = "unknown_user"


class UnknownSession(NotFound):
    code = "unknown_session"


class UnknownDocument(NotFound):
    code = "unknown_document"


class UnknownFile(NotFound):
    code = "unknown_file"


class UnknownKey(NotFound):
    code = "unknown_key"


class UnknownPersona(NotFound):
    code = "unknown_persona"


class UnknownReward(NotFound):
    """No level reward is set at that level (`abby xp rewards remove`)."""

    code = "unknown_reward"


class Refused(AbbyError):
    exit_code = ExitCode.REFUSED
    code = "refused"


class InsufficientFunds(Refused):
    code = "insufficient_funds"


class QuotaExceeded(Refused):
    code = "quota_exceeded"


class OnCooldown(Refused):
    code = "on_cooldown"


class SessionClosed(Refused):
    """A conversation session that is closed or expired takes no more messages."""

    code = "session_closed"


class KeyInUse(Refused):
    code = "key_in_use"


class AuditFailed(Refused):
    code = "audit_failed"


class Cancelled(Refused):
    """The operator answered no at a confirmation: nothing was changed (not a bug, so not 1)."""

    code = "cancelled"


class LimitExceeded(Refused):
    """A value past a hard limit of the books (a balance or XP total over 2^63-1)."""

    code = "limit_exceeded"


class CopyTargetNotEmpty(Refused):
    """`abby db copy` to a database that already holds records, without --merge."""

    code = "copy_target_not_empty"


class CopyIncomplete(Refused):
    """`abby db copy` finished with records that differ on the target, or an audit failing."""

    code = "copy_incomplete"


class StoreInconsistent(Refused):
    """`abby rag verify` found records and vectors that disagree (and did not repair them)."""

    code = "store_inconsistent"


class RotationIncomplete(Refused):
    """`abby keys rotate` left records it could not re-encrypt (unknown key, undecryptable)."""

    code = "rotation_incomplete"


class ExternalRefusal(AbbyError):
    exit_code = ExitCode.EXTERNAL_REFUSAL
    code = "external_refusal"


class ContentModerated(ExternalRefusal):
    code = "content_moderated"


class OutOfCredits(ExternalRefusal):
    code = "out_of_credits"


class TemporaryFailure(AbbyError):
    exit_code = ExitCode.TEMPORARY
    code = "temporary_failure"


class RateLimited(TemporaryFailure):
    code = "rate_limited"


class ServiceUnavailable(TemporaryFailure):
    code = "service_unavailable"


class BadResponse(ServiceUnavailable):
    """A service answered with something unreadable: invalid JSON, broken compression, a
    truncated image, the wrong content type. Nothing was delivered, so nothing is charged."""

    code = "bad_response"


class ResponseTooLarge(BadResponse):
    """A response body passed the size cap of its endpoint; reading stopped at the cap."""

    code = "response_too_large"


class StorageUnavailable(TemporaryFailure):
    """The file system refused a write for a reason that an operator fixes, then retries."""

    code = "storage_unavailable"


class DiskFull(StorageUnavailable):
    code = "disk_full"


class ReadOnlyStorage(StorageUnavailable):
    code = "read_only_storage"


# errno -> (error class, what happened); a retry after freeing space or remounting succeeds.
_STORAGE_ERRNOS: dict[int, tuple[type[StorageUnavailable], str]] = {
    errno.ENOSPC: (DiskFull, "no space left on the device (disk full); free some and retry"),
    errno.EDQUOT: (DiskFull, "the disk quota is exceeded; free some space and retry"),
    errno.EFBIG: (DiskFull, "the file size limit is reached (ulimit -f); raise it and retry"),
    errno.EROFS: (ReadOnlyStorage, "the file system is read-only; remount it and retry"),
}


def storage_error(
    exc: BaseException, path: str | os.PathLike[str] | None = None
) -> StorageUnavailable | None:
    """The typed error for an OSError that means disk full or read-only, else None.

    `path` names the file when the OSError does not (a failed write() carries no file name).
    """
    if not isinstance(exc, OSError) or exc.errno not in _STORAGE_ERRNOS:
        return None
    cls, what = _STORAGE_ERRNOS[exc.errno]
    where: str | bytes | os.PathLike[str] | None = (
        exc.filename if exc.filename is not None else path
    )
    if where is None:
        return cls(f"cannot write: {what}")
    shown = os.fsdecode(where)
    return cls(f"cannot write {shown}: {what}", path=shown)


class ConfigError(AbbyError):
    exit_code = ExitCode.CONFIG
    code = "config_error"


class DatabaseLost(ConfigError):
    """The database file is missing or empty where a schema was created: data loss that
    the operator must resolve (restore a backup), never a silent fresh start."""

    code = "database_lost"


class DatabaseCorrupt(ConfigError):
    """The database file is not a SQLite database or is damaged: restore it from a backup
    (nothing a retry fixes, and nothing Abby may overwrite)."""

    code = "database_corrupt"


class MissingKey(ConfigError):
    code = "missing_key"


class NotPermitted(Refused):
    """A member without the admin or moderator rights a command needs (core.moderation)."""

    code = "not_permitted"


class AttachmentRefused(Refused):
    """An upload refused by its rules: an unsupported type, empty, or over the size limit."""

    code = "attachment_refused"


class BackupInvalid(InvalidInput):
    """An archive that is not a complete, unedited Abby backup (truncated, a file whose
    checksum differs, an unexpected member); nothing was changed."""

    code = "backup_invalid"


class BackupTooNew(InvalidInput):
    """A backup written by a newer Abby, with a record schema this version cannot read."""

    code = "backup_too_new"


class RestoreTargetNotEmpty(Refused):
    """A restore onto a data dir or database that already holds data, without --yes."""

    code = "restore_target_not_empty"


class AlreadyClaimed(OnCooldown):
    """A once-a-day reward already paid for this UTC day; `next_at` is when it opens again."""

    code = "already_claimed"


class RecipientIsBot(Refused):
    """A payment to a bot account: bots hold no currency, so nothing moves."""

    code = "recipient_is_bot"


class ExportOnCooldown(OnCooldown):
    """A member's own export asked again inside `privacy.export_cooldown_seconds`;
    `next_at` is when it opens again."""

    code = "export_on_cooldown"
