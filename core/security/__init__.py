"""Security: the key ring, encryption at rest, key rotation, and password hashing.

The seed's functions live here: `encrypt_data`, `decrypt_data`, `hash_password`,
`verify_password`. With `key` omitted, encryption uses the key ring configured by
`ABBY_ENCRYPTION_KEYS` or the 0600 key file (default `<data dir>/keys`), read from the
current context; `core.security.crypto` and `core.security.passwords` do the work with what
they are given.
"""

from __future__ import annotations

from core.security import crypto
from core.security.keyring import Key, KeyRing, KeySource, generate_key, key_id_of
from core.security.passwords import PasswordHasher, verify_password
from core.security.rotation import EncryptedField, EncryptedRecord, RotationReport, rotate
from core.security.service import KeyService, KeyStatus

__all__ = [
    "EncryptedField",
    "EncryptedRecord",
    "Key",
    "KeyRing",
    "KeyService",
    "KeySource",
    "KeyStatus",
    "PasswordHasher",
    "RotationReport",
    "decrypt_data",
    "encrypt_data",
    "generate_key",
    "hash_password",
    "key_id_of",
    "rotate",
    "verify_password",
]


def _ring(key: crypto.KeyLike | None) -> crypto.KeyLike:
    if key is not None:
        return key
    from core.context import current

    return current().keys.ring()


def encrypt_data(data: str | bytes, key: crypto.KeyLike | None = None) -> bytes:
    """Encrypt UTF-8 text; return the Fernet token. Omit `key` to use the configured ring.

    Raises InvalidInput (a ValueError) for non-text data or a malformed key, MissingKey when
    no key is given and none is configured.
    """
    crypto.to_plaintext(data)  # bad data is refused before a missing key is
    return crypto.encrypt_data(data, _ring(key))


def decrypt_data(encrypted_data: str | bytes, key: crypto.KeyLike | None = None) -> str:
    """Decrypt a Fernet token made by encrypt_data; return the text.

    Raises Undecryptable (a ValueError) for a tampered or foreign token, InvalidInput for a
    malformed key, MissingKey when no key is given and none is configured.
    """
    crypto.check_token(encrypted_data)
    return crypto.decrypt_data(encrypted_data, _ring(key))


def hash_password(password: str) -> str:
    """Hash with the configured cost (settings.security.bcrypt_rounds)."""
    from core.context import current

    return PasswordHasher(rounds=current().settings.security.bcrypt_rounds).hash(password)
