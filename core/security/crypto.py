"""Encryption of text with a given key: Fernet tokens as bytes, text in and text out.

`key` is one Fernet key (str or bytes) or a KeyRing (primary encrypts, any key decrypts); the
seed's shortcuts in `core.security` pass the configured ring when the caller gives none.
Plaintext is UTF-8 text: bytes that are not valid UTF-8 are refused up front, since
decrypt_data returns `str` and could not give them back.
"""

from __future__ import annotations

from core.errors import InvalidInput, Undecryptable
from core.security.keyring import KeyRing, check_key

KeyLike = str | bytes | KeyRing


def to_plaintext(data: str | bytes, what: str = "data") -> bytes:
    """UTF-8 bytes of `data`; InvalidInput for other types or bytes that are not UTF-8."""
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"{what} contains unpaired surrogates; it is not valid text"
            ) from None
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{what} is not UTF-8 text (invalid byte at offset {exc.start}); "
                "encrypt_data takes text"
            ) from None
        return raw
    raise InvalidInput(f"{what} must be str or bytes, not {type(data).__name__}")


def to_text(plaintext: bytes, what: str = "decrypted data") -> str:
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise Undecryptable(f"{what} is not UTF-8 text") from None


def ring_of(key: KeyLike) -> KeyRing:
    """A ring of one key (InvalidInput when malformed), or the ring given."""
    if isinstance(key, KeyRing):
        return key
    return KeyRing.from_keys([check_key(key)], source="the key argument")


def check_token(encrypted_data: object) -> str | bytes:
    """The token as str or bytes; InvalidInput for any other type."""
    if isinstance(encrypted_data, str):
        return encrypted_data
    if isinstance(encrypted_data, bytes | bytearray):
        return bytes(encrypted_data)
    raise InvalidInput(f"encrypted_data must be bytes or str, not {type(encrypted_data).__name__}")


def encrypt_data(data: str | bytes, key: KeyLike) -> bytes:
    """Encrypt UTF-8 text with `key`; return the Fernet token.

    Raises InvalidInput (a ValueError) for non-text data or a malformed key.
    """
    plaintext = to_plaintext(data)
    _, token = ring_of(key).encrypt(plaintext)
    return token.encode("ascii")


def decrypt_data(encrypted_data: str | bytes, key: KeyLike) -> str:
    """Decrypt a Fernet token made by encrypt_data; return the text.

    Raises Undecryptable (a ValueError) for a tampered or foreign token, InvalidInput for a
    malformed key.
    """
    token = check_token(encrypted_data)
    return to_text(ring_of(key).decrypt(token))
