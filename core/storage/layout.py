"""The storage root's layout: the only names storage writes, so cleanup can recognise them.

A stored file is ``<user folder>/<YYYY-MM>/<32 hex id>.<png|jpg|webp>``; a write in flight is
``.tmp-<16 hex>`` beside it (``core.paths.atomic_write``). Anything else under the root was not
written by storage, and cleanup neither counts nor deletes it: the root may be shared with other
files, or misconfigured to a directory that holds something precious.
"""

from __future__ import annotations

import re
from datetime import datetime

from core.ids import check_id
from core.images.validation import EXTENSIONS
from core.paths import TEMP_PREFIX, safe_name

_ID_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")  # core.ids' user-id alphabet
_MONTH_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_EXTENSION_TYPES = {ext: mime for mime, ext in EXTENSIONS.items()}
_FILE_RE = re.compile(r"([0-9a-f]{32})\.(" + "|".join(_EXTENSION_TYPES) + ")")
_TEMP_RE = re.compile(re.escape(TEMP_PREFIX) + r"[0-9a-f]{16}")


def relative_path(user_id: str, when: datetime, file_id: str, content_type: str) -> str:
    """The root-relative path of a new stored file."""
    folder = safe_name(check_id(user_id, "user id"), "user folder")
    return f"{folder}/{when:%Y-%m}/{file_id}.{EXTENSIONS[content_type]}"


def is_user_folder(name: str) -> bool:
    return bool(_ID_RE.fullmatch(name)) and name not in (".", "..")


def is_month_folder(name: str) -> bool:
    return bool(_MONTH_RE.fullmatch(name))


def stored_type(name: str) -> str | None:
    """The content type a stored file of this name must hold; None if storage never names so."""
    match = _FILE_RE.fullmatch(name)
    return _EXTENSION_TYPES[match.group(2)] if match else None


def is_temp_name(name: str) -> bool:
    return bool(_TEMP_RE.fullmatch(name))
