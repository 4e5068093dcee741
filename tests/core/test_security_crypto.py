"""Key ring, encrypt/decrypt and password hashing: behaviour a caller can observe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.config import SecuritySettings, load_settings
from core.context import AppContext, use_context
from core.errors import ConfigError, InvalidInput, MissingKey, Undecryptable, UnknownKey
from core.security import (
    Key,
    KeyRing,
    KeySource,
    PasswordHasher,
    decrypt_data,
    encrypt_data,
    generate_key,
    hash_password,
    key_id_of,
    verify_password,
)
from core.security.keyring import parse_keys


def source_with_env(value: str, tmp_path: Path) -> KeySource:
    return KeySource(SecuritySettings(encryption_keys=SecretStr(value)), tmp_path / "keys")


def test_primary_encrypts_and_every_key_of_the_ring_decrypts() -> None:
    old, new = generate_key(), generate_key()
    token_old = encrypt_data("from the old days", old)
    ring = KeyRing.from_keys([new, old])
    assert ring.primary_id == key_id_of(new)
    assert decrypt_data(token_old, ring) == "from the old days"
    key_id, token = ring.encrypt(b"fresh")
    assert key_id == key_id_of(new)
    assert decrypt_data(token, new) == "fresh"
    with pytest.raises(Undecryptable):
        decrypt_data(token, old)


def test_decrypt_with_a_key_id_not_in_the_ring_is_unknown_key() -> None:
    ring = KeyRing.from_keys([generate_key()])
    _, token = ring.encrypt(b"x")
    with pytest.raises(UnknownKey, match="deadbeef"):
        ring.decrypt(token, "deadbeef")


def test_a_tampered_token_is_undecryptable_and_the_message_shows_no_content() -> None:
    key = generate_key()
    token = bytearray(encrypt_data("top secret words", key))
    token[40] = ord("A") if token[40] != ord("A") else ord("B")
    with pytest.raises(Undecryptable) as caught:
        decrypt_data(bytes(token), key)
    assert "secret" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_non_utf8_bytes_are_refused_before_encrypting() -> None:
    with pytest.raises(InvalidInput, match="not UTF-8"):
        encrypt_data(b"\xff\xfe\x00", generate_key())
    key = generate_key()
    assert decrypt_data(encrypt_data("é".encode(), key), key) == "é"  # UTF-8 bytes are fine


@pytest.mark.parametrize("bad", ["", "short", "x" * 44, "!" * 44, "é" * 44, b"\x00" * 32, 12345])
def test_a_malformed_key_is_one_clear_error_that_never_echoes_it(bad: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        encrypt_data("hi", bad)  # type: ignore[arg-type]
    if isinstance(bad, str) and len(bad) > 4:
        assert bad not in str(caught.value)


def test_keys_parse_with_explicit_or_derived_ids_and_reject_duplicates(tmp_path: Path) -> None:
    a, b = generate_key().decode(), generate_key().decode()
    keys = parse_keys(f"# comment\nmine:{a}\n\n{b}\n", source="file")
    assert [k.id for k in keys] == ["mine", key_id_of(b.encode())]
    with pytest.raises(ConfigError, match="line 2"):
        parse_keys(f"{a}\nnot-a-key\n", source="file")
    with pytest.raises(ConfigError, match="appears twice"):
        KeyRing([Key("x", a.encode()), Key("x", b.encode())])
    with pytest.raises(ConfigError, match="key id"):
        parse_keys(f"bad id!:{a}", source="file")


def test_keys_from_the_environment_are_comma_separated_newest_first(tmp_path: Path) -> None:
    a, b = generate_key().decode(), generate_key().decode()
    ring = source_with_env(f"new:{a}, {b}", tmp_path).ring()
    assert ring.ids == ("new", key_id_of(b.encode()))
    with pytest.raises(ConfigError, match="item 2") as caught:
        source_with_env(f"{a},oops", tmp_path).ring()
    assert a not in str(caught.value)


def test_an_empty_ring_is_missing_key_with_the_generate_hint(tmp_path: Path) -> None:
    with pytest.raises(MissingKey, match="abby keys generate --write"):
        KeySource(SecuritySettings(), tmp_path / "keys").ring()
    (tmp_path / "keys").write_text("# nothing yet\n")
    os.chmod(tmp_path / "keys", 0o600)
    with pytest.raises(MissingKey, match="abby keys generate"):
        KeySource(SecuritySettings(), tmp_path / "keys").ring()
    with pytest.raises(MissingKey):
        source_with_env(" , ", tmp_path).ring()


def test_a_key_file_readable_by_others_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(generate_key().decode() + "\n")
    os.chmod(path, 0o644)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="chmod 600"):
        KeySource(SecuritySettings(), path).ring()
    assert path.read_bytes() == before and (path.stat().st_mode & 0o777) == 0o644


def test_key_file_writes_are_atomic_0600_and_a_change_is_picked_up(tmp_path: Path) -> None:
    source = KeySource(SecuritySettings(), tmp_path / "sub" / "keys")
    first = Key("first", generate_key())
    source.write_file([first])
    assert (source.key_file.stat().st_mode & 0o777) == 0o600
    assert source.ring().primary_id == "first"
    second = Key("second", generate_key())
    source.add_primary(second)
    assert source.ring().ids == ("second", "first")
    # No temp files left; only the lock file that guards edits, private like the keys.
    assert sorted(p.name for p in source.key_file.parent.iterdir()) == ["keys", "keys.lock"]
    assert (source.key_file.parent / "keys.lock").stat().st_mode & 0o777 == 0o600


def test_the_ring_repr_never_shows_key_material() -> None:
    key = generate_key()
    ring = KeyRing.from_keys([key])
    assert key.decode() not in repr(ring)
    assert key.decode() not in repr(ring.keys[0])


def test_seed_encrypt_without_a_key_uses_the_configured_ring(tmp_path: Path) -> None:
    key = generate_key().decode()
    settings = load_settings(
        environ={"ABBY_DATA_DIR": str(tmp_path / "d"), "ABBY_ENCRYPTION_KEYS": key}
    )
    with use_context(AppContext(settings)):
        token = encrypt_data("configured")
        assert decrypt_data(token) == "configured"
        assert decrypt_data(token, key) == "configured"
    empty = load_settings(environ={"ABBY_DATA_DIR": str(tmp_path / "e")})
    with use_context(AppContext(empty)), pytest.raises(MissingKey):
        encrypt_data("nothing to encrypt with")


# --- passwords -------------------------------------------------------------------------------


def test_password_hash_verifies_and_uses_the_configured_cost(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"ABBY_DATA_DIR": str(tmp_path), "ABBY_SECURITY__BCRYPT_ROUNDS": "5"}
    )
    with use_context(AppContext(settings)):
        hashed = hash_password("correct horse")
    assert hashed.startswith("$2b$05$")
    assert verify_password("correct horse", hashed) is True
    assert verify_password("wrong horse", hashed) is False


def test_a_73_byte_password_is_refused_but_72_bytes_work() -> None:
    hasher = PasswordHasher(rounds=4)
    with pytest.raises(ValueError, match="73 bytes"):
        hasher.hash("a" * 73)
    with pytest.raises(InvalidInput, match="74 bytes"):
        hasher.hash("é" * 37)  # 37 characters, 74 bytes in UTF-8
    hashed = hasher.hash("a" * 72)
    assert hasher.verify("a" * 72, hashed)
    assert not hasher.verify("a" * 71 + "b", hashed)
    assert not hasher.verify("a" * 73, hashed)  # bcrypt alone would say True here


@pytest.mark.parametrize(
    "hashed", ["", "not a hash", "$2b$04$short", b"\xff\xfe", None, 42, "$2b$99$" + "a" * 53]
)
def test_verify_returns_false_for_a_malformed_hash_and_never_raises(hashed: object) -> None:
    assert verify_password("anything", hashed) is False  # type: ignore[arg-type]


def test_bcrypt_rounds_outside_4_to_31_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bcrypt_rounds"):
        load_settings(environ={"ABBY_DATA_DIR": str(tmp_path), "ABBY_SECURITY__BCRYPT_ROUNDS": "3"})
