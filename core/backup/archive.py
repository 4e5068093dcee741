"""The backup archive: a plain tar with a manifest last, checked before anything is trusted.

Layout (every name relative, every member a regular file):

    database/abby.db              SQLite backends only: the online-backup copy of the database
    documents/<domain>.jsonl.gz   each domain's export() records (from that same copy on SQLite)
    chroma/...                    the embedded vector store, copied under its write lock
    storage/...                   the stored files (images), as they are on disk
    keys, pseudonym.key           only with --include-keys
    config.json                   the effective settings, secrets masked
    manifest.json                 last: versions, backend, counts, sha256 and size of each file

The tar itself is not compressed: the images are already compressed and would cost most of
the time for nothing; the documents are gzipped one file per domain. Reading verifies every
member against the manifest in one streaming pass before a restore touches anything, and
extraction writes only regular files under a destination it checks each path against.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from core.errors import BackupInvalid, UnknownFile
from core.progress import Progress

FORMAT = 1
MANIFEST = "manifest.json"
# The only top-level names an archive may hold.
_ROOTS = {
    "database",
    "documents",
    "chroma",
    "storage",
    "keys",
    "pseudonym.key",
    "config.json",
    MANIFEST,
}
_CHUNK = 1 << 20
# A manifest is small; anything bigger is not ours (and must not be read into memory).
_MANIFEST_LIMIT = 64 << 20


@dataclass
class Manifest:
    abby_version: str
    schema_version: int
    backend: str
    created_at: str
    counts: dict[str, int] = field(default_factory=dict)
    vectors: int | None = None
    includes_keys: bool = False
    database: str | None = None  # the member holding a SQLite copy, when the source had one
    tables: dict[str, int] | None = None  # that copy's row count per table
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=1, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        try:
            raw = json.loads(data)
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except (ValueError, TypeError, KeyError) as exc:
            raise BackupInvalid(f"{where}: the manifest is unreadable ({exc})") from None


class _Hashing:
    """A file wrapper that hashes what tarfile reads through it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.sha.update(data)
        return data


class ArchiveWriter:
    """Members added one by one; `close()` writes the manifest last."""

    def __init__(self, handle: IO[bytes], manifest: Manifest) -> None:
        self._tar = tarfile.open(fileobj=handle, mode="w|", format=tarfile.PAX_FORMAT)
        self.manifest = manifest

    def add_file(self, name: str, path: Path) -> int:
        """Add the file at `path` as `name`; return its size. FileNotFoundError if it went."""
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            info = _info(name, size)
            reader = _Hashing(handle)
            self._tar.addfile(info, reader)  # type: ignore[arg-type]
        self.manifest.files[name] = {"sha256": reader.sha.hexdigest(), "bytes": size}
        return size

    def add_bytes(self, name: str, data: bytes) -> None:
        import io

        self._tar.addfile(_info(name, len(data)), io.BytesIO(data))
        self.manifest.files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    def close(self) -> None:
        data = self.manifest.to_json()
        import io

        self._tar.addfile(_info(MANIFEST, len(data)), io.BytesIO(data))
        self._tar.close()


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = 0  # the content is what counts; equal data makes equal members
    return info


def check_name(name: str, where: str) -> PurePosixPath:
    """Refuse a member name that is absolute, climbs out, or is not one of ours."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] not in _ROOTS:
        raise BackupInvalid(f"{where}: unexpected member {name[:80]!r}; not an Abby backup")
    return path


@contextmanager
def _readable(where: str) -> Iterator[None]:
    """A truncated or foreign file raises deep inside tarfile (while listing or reading a
    member): every such error is the one-line BackupInvalid."""
    try:
        yield
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise BackupInvalid(
            f"{where} is truncated or not an Abby backup ({str(exc)[:80]}); nothing was changed"
        ) from None


def _members(path: Path) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    where = str(path)
    with _readable(where), tarfile.open(path, mode="r|") as tar:
        for member in tar:
            check_name(member.name, where)
            if not member.isfile():
                raise BackupInvalid(f"{where}: {member.name[:80]!r} is not a regular file")
            handle = tar.extractfile(member)
            assert handle is not None
            yield member, handle


def verify(path: Path, progress: Progress | None = None) -> Manifest:
    """Read the whole archive once, check every member against the manifest; return it.

    `progress(done, total)` counts the bytes of the members read, of the archive's size.

    Raises BackupInvalid naming the first file whose checksum or size differs, a file the
    manifest does not list (or lists but the archive lacks), or a truncated archive.
    """
    where = str(path)
    if not path.exists():  # a missing input file is 3 for every command (the exit table)
        raise UnknownFile(f"no such file: {where}")
    if not path.is_file():
        raise BackupInvalid(f"{where} is not a regular file; give the archive abby backup wrote")
    total = path.stat().st_size
    seen: dict[str, tuple[str, int]] = {}
    manifest_data: bytes | None = None
    done = 0
    with _readable(where):
        for member, handle in _members(path):
            if member.name == MANIFEST:
                if member.size > _MANIFEST_LIMIT:
                    raise BackupInvalid(f"{where}: the manifest is implausibly large")
                manifest_data = handle.read()
                continue
            if manifest_data is not None:
                raise BackupInvalid(f"{where}: a member follows the manifest; not an Abby backup")
            sha = hashlib.sha256()
            size = 0
            while chunk := handle.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
            seen[member.name] = (sha.hexdigest(), size)
    if progress:
        progress(total, total)
    if manifest_data is None:
        raise BackupInvalid(f"{where} has no manifest: truncated, or not an Abby backup")
    manifest = Manifest.from_json(manifest_data, where)
    for name, (digest, size) in seen.items():
        listed = manifest.files.get(name)
        if listed is None:
            raise BackupInvalid(f"{where}: {name} is not in the manifest; nothing was changed")
        if listed.get("sha256") != digest or listed.get("bytes") != size:
            raise BackupInvalid(
                f"{where}: {name} does not match its checksum (edited or damaged); "
                "nothing was changed"
            )
    missing = sorted(set(manifest.files) - set(seen))
    if missing:
        raise BackupInvalid(f"{where}: {missing[0]} is missing (truncated?); nothing was changed")
    return manifest


def extract(
    path: Path,
    destination: Path,
    manifest: Manifest,
    progress: Progress | None = None,
) -> None:
    """Write every member but the manifest under `destination` (0600 files, 0700 dirs),
    checking each checksum again as it is written (the file may have changed since verify).

    `progress(done, total)` counts the bytes written, of the manifest's total."""
    root = destination.resolve()
    done = 0
    total = sum(int(f["bytes"]) for f in manifest.files.values())
    with _readable(str(path)):
        for member, handle in _members(path):
            if member.name == MANIFEST:
                continue
            target = root.joinpath(*check_name(member.name, str(path)).parts)
            if not target.resolve().is_relative_to(root):
                raise BackupInvalid(f"{path}: {member.name[:80]!r} leaves the destination")
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            sha = hashlib.sha256()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := handle.read(_CHUNK):
                    sha.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            if sha.hexdigest() != manifest.files.get(member.name, {}).get("sha256"):
                raise BackupInvalid(f"{path}: {member.name} changed while it was restored")
