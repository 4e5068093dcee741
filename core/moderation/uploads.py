"""Files moderators upload from Discord into the knowledge base: checked, fetched, parsed.

Checks run before a byte is downloaded (type by extension, the size Discord declared) and
again on what arrives: the download stops at the size limit whatever Content-Length said,
has one overall deadline, and follows a redirect only to the same host (an attachment URL
that bounces elsewhere could reach an internal address). The bytes land in a private
(0700) temporary directory, are read back through the RAG loaders and removed after.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from core.errors import AttachmentRefused, ServiceUnavailable
from core.permissions import PRIVATE_DIR

# What /kb ingest accepts; the RAG loaders read each of these (PDFs in a budgeted child).
UPLOAD_SUFFIXES = (".md", ".txt", ".rst", ".html", ".pdf")
MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class Upload:
    """An attachment as Discord describes it: a file name, the declared size and its URL."""

    filename: str
    size: int
    url: str


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MiB" if n >= 1048576 else f"{n / 1024:.1f} KiB"


def safe_name(filename: str) -> str:
    """A file name that is only a name: no directories, no control or odd characters."""
    base = os.path.basename(filename.replace("\\", "/")).strip()
    cleaned = _SAFE_NAME.sub("_", base).strip(". ")[:120]
    return cleaned or "upload"


def check_upload(upload: Upload, *, max_bytes: int) -> str:
    """Refuse what cannot be ingested before downloading it; return the safe file name."""
    name = safe_name(upload.filename)
    suffix = Path(name).suffix.lower()
    # Messages name no file: a member reads them, and a name could carry anything.
    if suffix not in UPLOAD_SUFFIXES:
        shown = f"{suffix} files" if suffix else "a file without an extension"
        raise AttachmentRefused(
            f"cannot ingest {shown}: send {', '.join(UPLOAD_SUFFIXES[:-1])} or "
            f"{UPLOAD_SUFFIXES[-1]}",
            filename=name,
        )
    if upload.size <= 0:
        raise AttachmentRefused("the file is empty: nothing to ingest", filename=name)
    if upload.size > max_bytes:
        raise AttachmentRefused(
            f"the file is {_size(upload.size)}; the limit is {_size(max_bytes)}", filename=name
        )
    return name


async def download(url: str, dest: Path, *, max_bytes: int, timeout: float) -> int:
    """Stream `url` into `dest`, at most `max_bytes`, within `timeout` seconds in all.

    Raises AttachmentRefused (too large, empty, redirected to another host) and
    ServiceUnavailable (unreachable, an HTTP error, the deadline passed). Returns the size.
    """
    try:
        async with asyncio.timeout(timeout):
            return await _download(url, dest, max_bytes=max_bytes)
    except TimeoutError:
        raise ServiceUnavailable(f"the attachment did not arrive within {timeout:g} s") from None


async def _download(url: str, dest: Path, *, max_bytes: int) -> int:
    import httpx

    origin = urlsplit(url)
    if origin.scheme not in ("http", "https") or not origin.hostname:
        raise AttachmentRefused("the attachment has no downloadable address")
    # identity: the size cap counts the bytes written, so no compressed body to inflate.
    headers = {"accept-encoding": "identity"}
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, headers=headers
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with client.stream("GET", url) as response:
                    if response.is_redirect:
                        target = urljoin(url, response.headers.get("location", ""))
                        moved = urlsplit(target)
                        if (moved.scheme, moved.hostname, moved.port) != (
                            origin.scheme,
                            origin.hostname,
                            origin.port,
                        ):
                            raise AttachmentRefused(
                                "the attachment's address redirects to another host; not followed"
                            )
                        url = target
                        continue
                    if response.status_code != 200:
                        raise ServiceUnavailable(
                            f"the attachment could not be fetched (HTTP {response.status_code})"
                        )
                    return await _save(response, dest, max_bytes)
            except httpx.HTTPError as exc:
                raise ServiceUnavailable(
                    f"the attachment could not be fetched ({type(exc).__name__})"
                ) from None
    raise AttachmentRefused(f"the attachment redirected more than {MAX_REDIRECTS} times")


async def _save(response: object, dest: Path, max_bytes: int) -> int:
    declared = response.headers.get("content-length")  # type: ignore[attr-defined]
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise AttachmentRefused(f"the file is over the {_size(max_bytes)} limit; not downloaded")
    encoding = response.headers.get("content-encoding", "identity")  # type: ignore[attr-defined]
    if encoding.strip().lower() not in ("identity", ""):
        raise ServiceUnavailable("the attachment arrived compressed although we asked not to")
    written = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        async for chunk in response.aiter_raw(_CHUNK):  # type: ignore[attr-defined]
            written += len(chunk)
            if written > max_bytes:
                raise AttachmentRefused(f"the file is over the {_size(max_bytes)} limit")
            handle.write(chunk)
    if written == 0:
        raise AttachmentRefused("the file is empty: nothing to ingest")
    return written


class PrivateDir:
    """A temporary directory only this user can enter, removed with what is in it."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="abby-upload-"))
        os.chmod(self.path, PRIVATE_DIR)
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
