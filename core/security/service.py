"""Key management as a service: generate, status, rotate, retire — with governance events.

Every operator action here records who ran it, what, and counts in the telemetry event log;
never key material, never content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.errors import KeyInUse, MissingKey
from core.progress import Progress
from core.security.keyring import Key, KeyRing, KeySource, generate_key, key_id_of
from core.security.rotation import (
    DEFAULT_BATCH_SIZE,
    EncryptedField,
    RotationReport,
    rotate,
)
from core.telemetry.governance import Governance


@dataclass(frozen=True)
class KeyStatus:
    id: str
    primary: bool
    records: int
    in_ring: bool  # False: records still name this id but the ring no longer holds the key


@dataclass(frozen=True)
class GeneratedKey:
    id: str
    key: Key  # material: repr hides it; the CLI prints it only when it was not written
    written_to: Path | None


@dataclass(frozen=True)
class RetiredKey:
    id: str
    remaining: tuple[str, ...]
    dry_run: bool = False


class KeyService:
    def __init__(
        self,
        *,
        source: KeySource,
        fields: Callable[[], Sequence[EncryptedField]],
        events: Governance = Governance(),
    ) -> None:
        self.source = source
        self._fields = fields
        self._events = events

    def ring(self) -> KeyRing:
        """The configured ring; MissingKey (exit 78) when there is none."""
        return self.source.ring()

    def writing(self) -> AbstractContextManager[KeyRing]:
        """Hold the key file's lock (shared) while encrypting and storing; yield the ring.

        Writers of ciphertext use it from choosing a key to committing the record, so that
        `retire` (exclusive) never counts zero records for a key a writer is about to use.
        """
        return self._writing()

    @contextmanager
    def _writing(self) -> Iterator[KeyRing]:
        with self.source.lock(shared=True):
            yield self.source.ring()

    def generate(self, *, write: bool, actor: str | None = None) -> GeneratedKey:
        """Make a new key; with `write`, add it to the key file as the primary key."""
        material = generate_key()
        key = Key(key_id_of(material), material)
        if not write:
            return GeneratedKey(key.id, key, None)
        keys = self.source.add_primary(key)
        self._events.record("keys.generate", {"key_id": key.id, "keys": len(keys)}, actor=actor)
        return GeneratedKey(key.id, key, self.source.key_file)

    def counts(self) -> dict[str, int]:
        """Records per key id over every encrypted field."""
        totals: dict[str, int] = {}
        for encrypted in self._fields():
            for key_id, count in encrypted.count_by_key().items():
                totals[key_id] = totals.get(key_id, 0) + count
        return totals

    def status(self) -> list[KeyStatus]:
        """Every key of the ring (primary first) and every key id records still name."""
        try:
            ids: Sequence[str] = self.ring().ids
        except MissingKey:
            ids = ()
        counts = self.counts()
        rows = [KeyStatus(i, n == 0, counts.get(i, 0), True) for n, i in enumerate(ids)]
        rows += [
            KeyStatus(key_id, False, count, False)
            for key_id, count in sorted(counts.items())
            if key_id not in ids
        ]
        return rows

    def rotate(
        self,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        dry_run: bool = False,
        progress: Progress | None = None,
        actor: str | None = None,
    ) -> RotationReport:
        """Re-encrypt every record under the primary key; resumable, see core.security.rotation."""
        report = rotate(
            self.ring(),
            list(self._fields()),
            batch_size=batch_size,
            dry_run=dry_run,
            progress=progress,
            guard=self.writing,
        )
        self._events.record(
            "keys.rotate",
            {
                "primary": report.primary,
                "dry_run": dry_run,
                "batch_size": batch_size,
                "to_rotate": report.to_rotate,
                "rotated": report.rotated,
                "unknown_key": report.unknown_key,
                "undecryptable": report.undecryptable,
            },
            actor=actor,
        )
        return report

    def retire(self, key_id: str, *, actor: str | None = None, dry_run: bool = False) -> RetiredKey:
        """Remove a key from the key file; KeyInUse while any record still uses it.

        The count and the rewrite happen under the key file's lock, and every writer of
        ciphertext holds that lock (shared) from choosing its key to storing the record, so a
        record cannot land under the key between the count and its removal.
        """
        if self.source.from_environment:
            self._refuse_in_use(key_id)
        remaining = self.source.remove(
            key_id, in_use=lambda: self.counts().get(key_id, 0), dry_run=dry_run
        )
        ids = tuple(k.id for k in remaining)
        if not dry_run:
            self._events.record(
                "keys.retire", {"key_id": key_id, "keys_left": len(ids)}, actor=actor
            )
        return RetiredKey(key_id, ids, dry_run)

    def _refuse_in_use(self, key_id: str) -> None:
        in_use = self.counts().get(key_id, 0)
        if in_use:
            raise KeyInUse(
                f"key {key_id} still protects {in_use} record(s); run `abby keys rotate` first"
            )
