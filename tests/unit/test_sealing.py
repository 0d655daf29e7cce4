"""Sealed successors open only with the token they were sealed under, and only unaltered."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authgate.sealing import NONCE_BYTES, TAG_BYTES, seal, unseal
from authgate.tokens import digest, generate_token

TOKEN = "presented-token"
PLAINTEXT = b'{"access_token":"abc","refresh_token":"def"}'


def raw(sealed: str) -> bytes:
    return base64.urlsafe_b64decode(sealed)


def text(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def test_round_trip_and_fresh_nonce():
    sealed = seal(TOKEN, PLAINTEXT)
    assert unseal(TOKEN, sealed) == PLAINTEXT
    assert seal(TOKEN, b"x") != seal(TOKEN, b"x")
    assert b"abc" not in raw(sealed)
    assert len(raw(sealed)) == NONCE_BYTES + len(PLAINTEXT) + TAG_BYTES


@pytest.mark.parametrize("plaintext", [b"", b"x", bytes(range(256)) * 3])
def test_any_length_round_trips(plaintext):
    assert unseal("k", seal("k", plaintext)) == plaintext


def test_aes_256_gcm_under_hkdf_sha256_of_the_token():
    """The construction is the library's, so anyone can check it with the same primitives."""
    sealed = raw(seal(TOKEN, PLAINTEXT))
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"authgate seal aes-256-gcm v2"
    ).derive(TOKEN.encode())
    nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    assert AESGCM(key).decrypt(nonce, ciphertext, None) == PLAINTEXT


def test_wrong_token_opens_nothing():
    sealed = seal(TOKEN, PLAINTEXT)
    assert unseal("another-token", sealed) is None
    assert unseal(TOKEN[:-1], sealed) is None
    assert unseal(TOKEN + "x", sealed) is None


def test_a_copy_of_the_store_opens_nothing():
    """The store keeps the token's SHA-256 digest: neither it nor its hex opens the seal."""
    token = generate_token(46)
    sealed = seal(token, PLAINTEXT)
    key = digest(token)
    assert unseal(key, sealed) is None
    assert unseal(bytes.fromhex(key).decode("latin-1"), sealed) is None


@pytest.mark.parametrize("position", [0, NONCE_BYTES - 1, NONCE_BYTES, NONCE_BYTES + 10, -1])
def test_any_flipped_bit_opens_nothing(position):
    """Nonce, ciphertext and tag are all covered by the tag."""
    sealed = bytearray(raw(seal(TOKEN, PLAINTEXT)))
    for bit in (0, 7):
        altered = bytearray(sealed)
        altered[position] ^= 1 << bit
        assert unseal(TOKEN, text(bytes(altered))) is None


def test_truncated_or_extended_opens_nothing():
    sealed = raw(seal(TOKEN, PLAINTEXT))
    for length in range(len(sealed)):
        assert unseal(TOKEN, text(sealed[:length])) is None
    assert unseal(TOKEN, text(sealed + b"\0")) is None
    assert unseal(TOKEN, text(sealed[1:])) is None


def test_swapped_parts_of_two_seals_open_nothing():
    first, second = raw(seal(TOKEN, PLAINTEXT)), raw(seal(TOKEN, PLAINTEXT))
    spliced = first[:NONCE_BYTES] + second[NONCE_BYTES:]
    assert unseal(TOKEN, text(spliced)) is None


@pytest.mark.parametrize("garbage", ["", "not base64 at all!", "é", "====", "AAAA"])
def test_garbage_opens_nothing(garbage):
    assert unseal(TOKEN, garbage) is None
