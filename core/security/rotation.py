"""Key rotation: re-encrypt every encrypted field under the primary key, in batches.

Each domain that stores ciphertext exposes its fields as `EncryptedField`s. Rotation streams
the records of one old key id at a time with keyset pagination (memory stays flat, whatever
the size), re-encrypts a batch, and writes it back guarded by `key_id = <old id>`: a record
rewritten by a concurrent or earlier run is not touched twice, and after a crash a second run
finds exactly the records that are left. Records that do not decrypt, or whose key is no
longer in the ring, are counted and left as they are — rotation never overwrites data it
cannot read. Progress goes to a callback (the CLI draws the bar; core has no Rich).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput, Undecryptable, UnknownKey
from core.progress import Progress
from core.security.keyring import KeyRing

DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 100_000
# How many undecryptable record references a report names (the count is always exact).
MAX_NAMED_FAILURES = 20


@dataclass(frozen=True)
class EncryptedRecord:
    """One stored ciphertext: `ref` locates it in its store (ordered, used as the cursor)."""

    ref: Any
    key_id: str
    token: str


class EncryptedField(ABC):
    """A place where ciphertext lives together with the id of the key that made it."""

    name: str  # "collection.field", for reports

    @abstractmethod
    def count_by_key(self) -> dict[str, int]:
        """How many records each key id protects (one grouped query)."""

    @abstractmethod
    def scan(self, key_id: str, after: Any, limit: int) -> list[EncryptedRecord]:  # noqa: ANN401 - each field's own ref
        """Up to `limit` records under `key_id` whose ref sorts after `after` (None = start)."""

    @abstractmethod
    def replace(self, updates: Sequence[tuple[EncryptedRecord, str, str]]) -> int:
        """Write (record, new key id, new token) triples, each guarded by the record's old key
        id, as one batch; return how many were written."""


@dataclass(frozen=True)
class FieldReport:
    name: str
    before: dict[str, int]
    rotated: int
    unknown_key: int
    undecryptable: int


@dataclass(frozen=True)
class RotationReport:
    primary: str
    dry_run: bool
    to_rotate: int  # records not under the primary key when the run started
    rotated: int
    unknown_key: int  # records under a key id that is not in the ring (left as they are)
    undecryptable: int  # records that did not verify under their key (left as they are)
    fields: list[FieldReport] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # first few refs that did not decrypt
    # A dry run rotates nothing (rotated == 0); this is what a real run would re-encrypt.
    would_rotate: int = 0


def check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise InvalidInput("batch size must be an integer")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput(f"batch size must be 1-{MAX_BATCH_SIZE}, not {batch_size}")
    return batch_size


def rotate(
    ring: KeyRing,
    fields: Sequence[EncryptedField],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: Progress | None = None,
    guard: Callable[[], AbstractContextManager[KeyRing]] | None = None,
) -> RotationReport:
    """Re-encrypt every record not under the ring's primary key; see the module docstring.

    `guard`, when given, is held around each batch and yields the current ring to encrypt
    with (KeyService.writing: the key file's shared lock).
    """
    batch_size = check_batch_size(batch_size)
    primary = ring.primary_id
    counts = {f.name: f.count_by_key() for f in fields}
    total = sum(n for c in counts.values() for k, n in c.items() if k != primary)
    done = 0
    if progress:
        progress(0, total)
    reports: list[FieldReport] = []
    failures: list[str] = []
    would = 0
    for encrypted in fields:
        before = counts[encrypted.name]
        rotated = unknown = bad = 0
        for key_id, count in sorted(before.items()):
            if key_id == primary:
                continue
            if key_id not in ring:
                unknown += count
                done += count
                if progress:
                    progress(done, total)
                continue
            if dry_run:
                would += count
                done += count
                if progress:
                    progress(done, total)
                continue
            after = None
            while True:
                batch = encrypted.scan(key_id, after, batch_size)
                if not batch:
                    break
                after = batch[-1].ref
                # Encrypt and store each batch under the guard, with the ring as it is now: a
                # key generated meanwhile becomes the target, and the key we write under
                # cannot be retired before the batch is stored.
                with guard() if guard else nullcontext(ring) as current:
                    updates: list[tuple[EncryptedRecord, str, str]] = []
                    for record in batch:
                        try:
                            new_id, token = current.reencrypt(record.token, record.key_id)
                        except UnknownKey:
                            unknown += 1  # its key left the ring during the run
                            continue
                        except Undecryptable:
                            bad += 1
                            if len(failures) < MAX_NAMED_FAILURES:
                                failures.append(f"{encrypted.name}:{_show_ref(record.ref)}")
                            continue
                        updates.append((record, new_id, token))
                    if updates:
                        rotated += encrypted.replace(updates)
                done += len(batch)
                if progress:
                    progress(done, total)
        reports.append(FieldReport(encrypted.name, dict(before), rotated, unknown, bad))
    return RotationReport(
        primary=primary,
        dry_run=dry_run,
        to_rotate=total,
        rotated=sum(r.rotated for r in reports),
        unknown_key=sum(r.unknown_key for r in reports),
        undecryptable=sum(r.undecryptable for r in reports),
        fields=reports,
        failures=failures,
        would_rotate=would,
    )


def _show_ref(ref: object) -> str:
    if isinstance(ref, tuple):
        return "/".join(str(part) for part in ref)
    return str(ref)
