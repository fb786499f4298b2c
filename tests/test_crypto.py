"""Envelope encryption, token-bound content keys, answers and tokens."""

from __future__ import annotations

import hmac
import os
import uuid

import pytest

from service.core.answers import read_date
from service.core.crypto import (
    DecryptionError,
    Keyring,
    campaign_token,
    campaign_token_message,
    campaign_token_valid,
    check_answer,
    decode_token,
    hash_answer,
    new_token,
    token_hash,
)


def test_seal_round_trips_and_is_not_plaintext() -> None:
    keyring = Keyring.generate()
    blob = keyring.seal(b"patient@example.org", b"row-1")
    assert b"patient@example.org" not in blob
    assert keyring.open(blob, b"row-1") == b"patient@example.org"


def test_nonce_is_fresh_every_time() -> None:
    keyring = Keyring.generate()
    assert keyring.seal(b"same", b"a") != keyring.seal(b"same", b"a")


@pytest.mark.parametrize("tamper", ["aad", "flip", "truncate", "kid"])
def test_tampering_is_detected(tamper: str) -> None:
    keyring = Keyring.generate()
    blob = keyring.seal(b"secret", b"row-1")
    aad = b"row-1"
    if tamper == "aad":
        aad = b"row-2"  # a ciphertext moved to another row does not open
    elif tamper == "flip":
        blob = blob[:-1] + bytes([blob[-1] ^ 1])
    elif tamper == "truncate":
        blob = blob[:10]
    elif tamper == "kid":
        blob = blob[:2] + b"x" + blob[3:]
    with pytest.raises(DecryptionError):
        keyring.open(blob, aad)


def test_content_needs_the_token_as_well_as_the_master_key() -> None:
    keyring = Keyring.generate()
    _, raw = new_token()
    _, other = new_token()
    aad = uuid.uuid4().bytes
    blob = keyring.seal_for_token(b"results are ready", raw, aad)
    assert keyring.open_with_token(blob, raw, aad) == b"results are ready"
    with pytest.raises(DecryptionError):
        keyring.open_with_token(blob, other, aad)
    with pytest.raises(DecryptionError):
        keyring.open(blob, aad)  # the master key alone is not enough


def test_old_keys_stay_readable_after_rotation() -> None:
    old = Keyring({"k1": b"1" * 32}, active="k1")
    blob = old.seal(b"x", b"a")
    rotated = Keyring({"k2": b"2" * 32, "k1": b"1" * 32}, active="k2")
    assert rotated.open(blob, b"a") == b"x"
    assert rotated.kid_of(rotated.seal(b"x", b"a")) == "k2"
    with pytest.raises(DecryptionError):
        Keyring({"k2": b"2" * 32}, active="k2").open(blob, b"a")


def test_tokens_are_32_random_bytes_and_only_hashes_are_kept() -> None:
    token, raw = new_token()
    assert len(raw) == 32 and len(token) == 43
    assert decode_token(token) == raw
    assert token_hash(raw) != raw and len(token_hash(raw)) == 32
    assert decode_token("short") is None
    assert decode_token("!" * 43) is None
    # The last character has two spare bits: the three other spellings of the same bytes are
    # not the token.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    aliases = [c for n, c in enumerate(alphabet) if n >> 2 == last >> 2 and n != last]
    assert len(aliases) == 3
    assert all(decode_token(token[:-1] + c) is None for c in aliases)
    assert new_token()[1] != raw


def test_answers_are_salted_and_normalised() -> None:
    stored = hash_answer("1980-03-14")
    assert b"1980" not in stored
    assert hash_answer("1980-03-14") != stored  # salted
    assert check_answer(" 1980-03-14 ", stored)
    assert not check_answer("1980-03-15", stored)
    assert check_answer("Blue Heron", hash_answer("blue heron"))


@pytest.mark.parametrize("typed", ["03/14/1980", "March 14, 1980", "14 March 1980", "1980-3-14"])
def test_a_date_answer_is_hashed_as_iso_and_any_spelling_read_to_it_matches(typed: str) -> None:
    stored = hash_answer("1980-03-14")  # what the API hashes for verification_format "date"
    assert not check_answer(typed, stored)  # as text, the spellings differ
    read = read_date(typed)
    assert read is not None and check_answer(read.isoformat(), stored)


def test_lookup_digests_survive_rotation() -> None:
    """Putting a new key in front (rotation) must not change the address index: otherwise an
    opted-out or suppressed address would look unknown and be mailed."""
    from service.core.addresses import email_index

    old = Keyring({"k1": b"1" * 32}, active="k1")
    rotated = Keyring({"k2": b"2" * 32, "k1": b"1" * 32}, active="k2")
    assert email_index(old, "pat@example.org", b"") == email_index(rotated, "Pat@Example.org", b"")
    assert email_index(Keyring({"k9": b"9" * 32}, active="k9"), "pat@example.org", b"") != \
        email_index(old, "pat@example.org", b"")


def test_a_campaign_token_names_its_message_and_holds_only_under_its_key_and_purpose() -> None:
    key, message = os.urandom(32), uuid.uuid4().bytes
    raw = decode_token(campaign_token(key, b"portal", message))
    assert raw is not None and campaign_token_message(raw) == message
    assert campaign_token_valid(key, b"portal", raw)
    assert not campaign_token_valid(key, b"unsubscribe", raw)
    assert not campaign_token_valid(os.urandom(32), b"portal", raw)
    assert not campaign_token_valid(key, b"portal", uuid.uuid4().bytes + raw[16:])
    assert not campaign_token_valid(key, b"portal", raw[:-1] + bytes([raw[-1] ^ 1]))


def test_mac_is_hmac_sha256_under_a_key_derived_per_purpose() -> None:
    """Stored blind indexes depend on this exact construction; a faster implementation must
    give the same bytes."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    keyring = Keyring({"k1": bytes(range(32))}, active="k1")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"mac:email-index").derive(bytes(range(32)))
    for data in (b"", b"patient@example.org", b"x" * 1000):
        assert keyring.mac(b"email-index", data) == hmac.digest(key, data, "sha256")
    assert keyring.mac(b"other", b"a") != keyring.mac(b"email-index", b"a")


def test_token_bound_content_is_resealed_without_its_token() -> None:
    old = Keyring({"k1": b"1" * 32}, active="k1")
    _, raw = new_token()
    blob = old.seal_for_token(b"results are ready", raw, b"a")
    rotated = Keyring({"k2": b"2" * 32, "k1": b"1" * 32}, active="k2")
    resealed = rotated.reseal(blob, b"a")
    assert resealed is not None and rotated.kid_of(resealed) == "k2"
    assert rotated.reseal(resealed, b"a") is None  # already under the active key
    only_new = Keyring({"k2": b"2" * 32}, active="k2")
    assert only_new.open_with_token(resealed, raw, b"a") == b"results are ready"
    with pytest.raises(DecryptionError):
        only_new.open(resealed, b"a")  # the outer layer opened is still not the content
    with pytest.raises(DecryptionError):
        only_new.open_with_token(resealed, new_token()[1], b"a")


def test_a_loaded_index_key_replaces_the_master_key_for_every_digest() -> None:
    keyring = Keyring({"k1": b"1" * 32}, active="k1")
    before = keyring.mac(b"email-index", b"pat@example.org")
    dropped = Keyring({"k2": b"2" * 32}, active="k2")
    dropped.use_index_key(b"1" * 32)
    assert dropped.mac(b"email-index", b"pat@example.org") == before
