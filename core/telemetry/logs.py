"""Logging set-up: JSON lines to a rotating file, short readable lines on stderr.

Noisy libraries are quietened, and a filter replaces every configured secret (and anything
shaped like a bearer token or a credentialed URL) with `***` before a record is written.
The log file and its directory are owner-only (0600 / 0700), whatever the umask.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError, storage_error
from core.permissions import PRIVATE_DIR, PRIVATE_FILE, restrict_umask
from core.urls import mask_urls

if TYPE_CHECKING:
    from core.config import Settings

NOISY_LOGGERS = (
    "httpx",
    "httpcore",
    "openai",
    "chromadb",
    "discord",
    "pymongo",
    "urllib3",
    "asyncio",
    "onnxruntime",
    "posthog",
    "mongoeco",
)
LOG_FILE = "abby.log"
# The CLI's crash handler logs tracebacks here: to the file only, since it prints its own line.
CRASH_LOGGER = "abby.crash"
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|token|password|secret)\s*[=:]\s*)[^\s,;]+"),
)


class RedactingFilter(logging.Filter):
    """Replace configured secrets and secret-shaped strings in the rendered message."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(sorted((s for s in secrets if len(s) >= 6), key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + "***", text)
        # Credentials inside any URL (http://user:pass@host, mongodb://user:pass@host).
        return mask_urls(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class _ConsoleFormatter(logging.Formatter):
    """One line per record: tracebacks go to the log file (or ABBY_DEBUG=1), not the console."""

    def format(self, record: logging.LogRecord) -> str:
        return self.formatMessage(_message_only(record))


def _message_only(record: logging.LogRecord) -> logging.LogRecord:
    record.message = record.getMessage()
    return record


_HANDLER_TAG = "_abby_handler"


class _LogFileHandler(logging.handlers.RotatingFileHandler):
    """The rotating log file, owner-only. A write it cannot make (disk full, read-only)
    never surfaces as logging's own `--- Logging error ---` traceback on stderr.

    The first failure prints one short line and the record is dropped; later failures are
    silent, so a command on a full disk still ends with its own one-line error.
    """

    _warned = False

    def handleError(self, record: logging.LogRecord) -> None:
        if self._warned:
            return
        self._warned = True
        exc = sys.exc_info()[1]
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        try:
            sys.stderr.write(f"warning: cannot write the log file {self.baseFilename}: {reason}\n")
        except (OSError, ValueError):
            pass

    def _open(self):  # noqa: ANN202 - logging.FileHandler's stream
        # 0600 for the first file and for each one a rollover starts.
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


class _ConsoleHandler(logging.StreamHandler):
    """stderr itself failing (a closed pipe, a full disk behind a redirect) drops the line."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def setup_logging(
    level: str = "INFO",
    log_dir: str | Path | None = None,
    *,
    settings: Settings | None = None,
    console_level: str | None = None,
) -> None:
    """Configure the root logger once per call (replacing handlers set by an earlier call).

    `log_dir` gets `abby.log` (JSON lines, rotated by size); without one only the console
    handler is installed. An unwritable log dir raises ConfigError. The process umask becomes
    owner-only too (core.permissions): only entry points call this, before opening any store.
    """
    restrict_umask()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
            handler.close()
    redactor = RedactingFilter(settings.secret_values() if settings else ())
    numeric = logging.getLevelName(str(level).upper())
    if not isinstance(numeric, int):
        raise ConfigError(f"logging.level: invalid value {level!r}")
    root.setLevel(numeric)

    console = _ConsoleHandler(sys.stderr)
    console.setLevel(console_level or level)
    console.setFormatter(_ConsoleFormatter("%(levelname)s %(name)s: %(message)s"))
    console.addFilter(redactor)
    console.addFilter(lambda record: record.name != CRASH_LOGGER)
    setattr(console, _HANDLER_TAG, True)
    root.addHandler(console)

    if log_dir is not None:
        path = Path(log_dir)
        try:
            path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            handler = _LogFileHandler(
                path / LOG_FILE,
                maxBytes=settings.logging.max_bytes if settings else 10 * 1024 * 1024,
                backupCount=settings.logging.backup_count if settings else 5,
                encoding="utf-8",
            )
        except OSError as exc:
            # A full or read-only disk is temporary (exit 75); anything else is the config's.
            raise storage_error(exc, path / LOG_FILE) or ConfigError(
                f"cannot write logs to {path}: {exc.strerror}"
            ) from exc
        handler.setLevel(numeric)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(redactor)
        setattr(handler, _HANDLER_TAG, True)
        root.addHandler(handler)

    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
