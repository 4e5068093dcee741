"""The key ring: Fernet keys with short ids, newest (primary) first.

The primary key encrypts; every key in the ring decrypts. Each ciphertext is stored with the
id of the key that made it, so what is left to rotate is a query, not a guess. Keys come from
`ABBY_ENCRYPTION_KEYS` (settings.security.encryption_keys) or the 0600 key file; one line (or
one comma-separated item) is `id:key` or a bare key, whose id is derived from the key itself.
The key file is rewritten atomically (temp file + fsync + rename, mode 0600), never edited in
place, and every read-modify-write of it holds a cross-process lock (`KeySource.lock`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.errors import ConfigError, InvalidInput, KeyInUse, MissingKey, Undecryptable, UnknownKey
from core.paths import atomic_write, locked

if TYPE_CHECKING:
    from core.config import SecuritySettings

GENERATE_HINT = "create one with `abby keys generate --write`"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def key_id_of(key: bytes) -> str:
    """The derived id of a key: the first 8 hex digits of its SHA-256 (not reversible)."""
    return hashlib.sha256(key).hexdigest()[:8]


def generate_key() -> bytes:
    """A fresh random Fernet key (url-safe base64 of 32 bytes)."""
    return Fernet.generate_key()


def check_key(key: str | bytes, where: str = "key") -> bytes:
    """Return a valid Fernet key as bytes, or raise InvalidInput (the key is never shown)."""
    if isinstance(key, str):
        try:
            key = key.strip().encode("ascii")
        except UnicodeEncodeError:
            raise InvalidInput(f"{where} is not a Fernet key (non-ASCII characters)") from None
    if not isinstance(key, bytes):
        raise InvalidInput(f"{where} must be text or bytes, not {type(key).__name__}")
    try:
        raw = base64.urlsafe_b64decode(key)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InvalidInput(
            f"{where} is not a Fernet key (expected 44 characters of url-safe base64 "
            "encoding 32 bytes; `abby keys generate` makes one)"
        )
    return key


@dataclass(frozen=True)
class Key:
    """One key of the ring. `repr` never shows the material."""

    id: str
    material: bytes = field(repr=False)

    @property
    def line(self) -> str:
        """The key-file line for this key (key material: show only to its owner)."""
        return f"{self.id}:{self.material.decode('ascii')}"


def parse_keys(text: str, *, source: str, separator: str | None = None) -> list[Key]:
    """Parse `id:key` or bare-key items (one a line, or split by `separator`); blank and #-lines
    are skipped. Raise ConfigError naming the item's position, never its content."""
    items = text.split(separator) if separator else text.splitlines()
    keys: list[Key] = []
    for number, raw in enumerate(items, start=1):
        item = raw.strip()
        if not item or item.startswith("#"):
            continue
        where = f"{source}: {'item' if separator else 'line'} {number}"
        # Fernet keys are url-safe base64: they never contain ':', so the first one splits.
        key_id, sep, material = item.partition(":")
        if not sep:
            key_id, material = "", item
        try:
            key = check_key(material, where)
        except InvalidInput as exc:
            raise ConfigError(str(exc)) from None
        key_id = key_id.strip() or key_id_of(key)
        if not _KEY_ID.fullmatch(key_id):
            raise ConfigError(f"{where}: key id must be 1-32 letters, digits, '_' or '-'")
        keys.append(Key(key_id, key))
    return keys


class KeyRing:
    """Keys newest first; `encrypt` uses the primary, `decrypt` any key of the ring."""

    def __init__(self, keys: Sequence[Key], *, source: str = "key ring") -> None:
        if not keys:
            raise MissingKey(f"no encryption key configured in {source}; {GENERATE_HINT}")
        ids = [k.id for k in keys]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ConfigError(f"{source}: key id {duplicates[0]} appears twice")
        materials = [k.material for k in keys]
        if len(set(materials)) != len(materials):
            raise ConfigError(f"{source}: the same key appears twice under different ids")
        self.keys: tuple[Key, ...] = tuple(keys)
        self.source = source
        self._fernets = {k.id: Fernet(k.material) for k in keys}
        self._primary = self._fernets[keys[0].id]
        self._multi = MultiFernet([self._fernets[k.id] for k in keys])

    @classmethod
    def from_keys(cls, keys: Iterable[str | bytes], *, source: str = "key ring") -> KeyRing:
        """A ring from bare keys (ids derived), newest first."""
        checked = [check_key(k) for k in keys]
        return cls([Key(key_id_of(k), k) for k in checked], source=source)

    def __repr__(self) -> str:
        return f"KeyRing(ids={list(self.ids)!r}, source={self.source!r})"

    @property
    def primary_id(self) -> str:
        return self.keys[0].id

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(k.id for k in self.keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._fernets

    def encrypt(self, plaintext: bytes) -> tuple[str, str]:
        """Encrypt with the primary key; return (key id, token as ASCII text)."""
        return self.keys[0].id, self._primary.encrypt(plaintext).decode("ascii")

    def decrypt(self, token: str | bytes, key_id: str | None = None) -> bytes:
        """Decrypt a token, with the key named by `key_id` or, without one, any key of the ring.

        Raise UnknownKey when `key_id` is not in the ring, Undecryptable when the token is
        malformed, tampered with, or made by a key the ring does not hold.
        """
        data = token.encode("ascii", "replace") if isinstance(token, str) else token
        if key_id is not None:
            fernet = self._fernets.get(key_id)
            if fernet is None:
                raise UnknownKey(f"key {key_id} is not in the key ring")
            try:
                return fernet.decrypt(data)
            except InvalidToken:
                raise Undecryptable(
                    f"ciphertext does not verify under key {key_id} (tampered or corrupt)"
                ) from None
        try:
            return self._multi.decrypt(data)
        except InvalidToken:
            raise Undecryptable(
                "ciphertext does not verify under any key of the ring (tampered, corrupt, "
                "or made by a key that is not in the ring)"
            ) from None

    def reencrypt(self, token: str, key_id: str) -> tuple[str, str]:
        """Decrypt under `key_id` and encrypt under the primary; return (primary id, token)."""
        return self.encrypt(self.decrypt(token, key_id))


# --- where keys live -------------------------------------------------------------------------


class KeySource:
    """Loads the ring from the environment setting or the key file, reloading the file when it
    changes (a long-running bot picks up `abby keys generate --write` without a restart)."""

    def __init__(self, settings: SecuritySettings, key_file: Path) -> None:
        self._settings = settings
        self.key_file = Path(key_file)
        self._cached: tuple[tuple[int, int, int], KeyRing] | None = None

    @property
    def from_environment(self) -> bool:
        value = self._settings.encryption_keys
        return value is not None and bool(value.get_secret_value().strip())

    @property
    def description(self) -> str:
        return "ABBY_ENCRYPTION_KEYS" if self.from_environment else f"key file {self.key_file}"

    def ring(self) -> KeyRing:
        """The current ring; MissingKey when none is configured, ConfigError when it is bad."""
        if self.from_environment:
            if self._cached is None:
                secret = self._settings.encryption_keys.get_secret_value()  # type: ignore[union-attr]
                keys = parse_keys(secret, source="ABBY_ENCRYPTION_KEYS", separator=",")
                self._cached = ((0, 0, 0), KeyRing(keys, source="ABBY_ENCRYPTION_KEYS"))
            return self._cached[1]
        try:
            info = self.key_file.stat()
        except FileNotFoundError:
            raise MissingKey(
                f"no encryption key: set ABBY_ENCRYPTION_KEYS or {GENERATE_HINT} "
                f"(writes {self.key_file})"
            ) from None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if self._cached is None or self._cached[0] != stamp:
            from core.config import read_secret_file

            source = f"key file {self.key_file}"
            keys = parse_keys(read_secret_file(self.key_file), source=source)
            self._cached = (stamp, KeyRing(keys, source=source))
        return self._cached[1]

    def file_keys(self) -> list[Key]:
        """The keys in the key file (empty when there is none)."""
        if not self.key_file.exists():
            return []
        from core.config import read_secret_file

        return parse_keys(read_secret_file(self.key_file), source=f"key file {self.key_file}")

    def _refuse_environment(self, action: str) -> None:
        if self.from_environment:
            raise ConfigError(
                f"keys come from ABBY_ENCRYPTION_KEYS, which Abby cannot edit: {action} in that "
                "variable yourself (comma-separated, newest first)"
            )

    def lock(self, *, shared: bool = False) -> AbstractContextManager[None]:
        """The cross-process lock of the key file.

        Every read-modify-write of the file holds it exclusively, so two concurrent edits
        (three `abby keys generate --write` at once) cannot each write back a copy missing
        the other's key. Not re-entrant: the methods below take it themselves.
        """
        if self.from_environment:
            return nullcontext()  # nothing of ours to edit: Abby never rewrites the variable
        return locked(self.key_file, shared=shared)

    def add_primary(self, key: Key) -> list[Key]:
        """Put `key` first in the key file, keeping the others (created 0600 when missing);
        return the keys now in the file."""
        self._refuse_environment("put the new key first")
        with self.lock():
            keys = [key, *self.file_keys()]
            self._write(keys)
        return keys

    def remove(
        self, key_id: str, *, in_use: Callable[[], int] | None = None, dry_run: bool = False
    ) -> list[Key]:
        """Drop `key_id` from the key file; refuse to drop the last key or the primary.

        `in_use` counts the records the key still protects; it runs under the lock, so no
        rotation or new primary can slip in between the count and the rewrite. Raises
        KeyInUse when it is not zero. Return the keys left in the file. `dry_run` makes
        every check (and raises what a real run would) but leaves the file as it is.
        """
        self._refuse_environment(f"remove key {key_id}")
        with self.lock():
            if in_use is not None:
                count = in_use()
                if count:
                    raise KeyInUse(
                        f"key {key_id} still protects {count} record(s); "
                        "run `abby keys rotate` first"
                    )
            keys = self.file_keys()
            if key_id not in [k.id for k in keys]:
                raise UnknownKey(f"key {key_id} is not in {self.description}")
            if keys[0].id == key_id:
                raise KeyInUse(
                    f"key {key_id} is the primary key; generate a new primary and rotate first"
                )
            left = [k for k in keys if k.id != key_id]
            if not dry_run:
                self._write(left)
        return left

    def write_file(self, keys: Sequence[Key]) -> None:
        """Replace the key file with `keys` (under the lock; temp file, fsync, rename, 0600)."""
        with self.lock():
            self._write(keys)

    def _write(self, keys: Sequence[Key]) -> None:
        # The caller holds the lock. atomic_write fsyncs the temp file and, after the rename,
        # the directory, so a crash leaves the old file or the new one, never a torn one.
        text = "# Abby encryption keys, newest (primary) first. Keep this file mode 0600.\n"
        text += "".join(f"{k.line}\n" for k in keys)
        atomic_write(self.key_file, text.encode("ascii"), mode=0o600)
        self._cached = None
