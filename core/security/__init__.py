"""Security: the key ring, encryption at rest, key rotation, and password hashing.

The seed's functions live here: `encrypt_data`, `decrypt_data`, `hash_password`,
`verify_password`. With `key` omitted, encryption uses the key ring configured by
`ABBY_ENCRYPTION_KEYS` or the 0600 key file (default `<data dir>/keys`).
"""

from __future__ import annotations

from core.security.crypto import decrypt_data, encrypt_data
from core.security.keyring import Key, KeyRing, KeySource, generate_key, key_id_of
from core.security.passwords import PasswordHasher, hash_password, verify_password
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
