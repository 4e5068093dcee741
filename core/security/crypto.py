"""The seed's encrypt_data / decrypt_data: Fernet tokens as bytes, text in and text out.

With `key` omitted the configured key ring is used (primary encrypts, any key decrypts).
`key` may be one Fernet key (str or bytes) or a KeyRing. Plaintext is UTF-8 text: bytes that
are not valid UTF-8 are refused up front, since decrypt_data returns `str` and could not give
them back.
"""

from __future__ import annotations

from core.errors import InvalidInput
from core.security.keyring import KeyRing, check_key


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
    from core.errors import Undecryptable

    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise Undecryptable(f"{what} is not UTF-8 text") from None


def _ring(key: str | bytes | KeyRing | None) -> KeyRing:
    if isinstance(key, KeyRing):
        return key
    if key is None:
        from core.context import current

        return current().keys.ring()
    return KeyRing.from_keys([check_key(key)], source="the key argument")


def encrypt_data(data: str | bytes, key: str | bytes | KeyRing | None = None) -> bytes:
    """Encrypt UTF-8 text; return the Fernet token. Omit `key` to use the configured ring.

    Raises InvalidInput (a ValueError) for non-text data or a malformed key, MissingKey when
    no key is given and none is configured.
    """
    plaintext = to_plaintext(data)
    _, token = _ring(key).encrypt(plaintext)
    return token.encode("ascii")


def decrypt_data(encrypted_data: str | bytes, key: str | bytes | KeyRing | None = None) -> str:
    """Decrypt a Fernet token made by encrypt_data; return the text.

    Raises Undecryptable (a ValueError) for a tampered or foreign token, InvalidInput for a
    malformed key, MissingKey when no key is given and none is configured.
    """
    if not isinstance(encrypted_data, (str, bytes, bytearray)):
        raise InvalidInput(
            f"encrypted_data must be bytes or str, not {type(encrypted_data).__name__}"
        )
    token = bytes(encrypted_data) if not isinstance(encrypted_data, str) else encrypted_data
    return to_text(_ring(key).decrypt(token))
