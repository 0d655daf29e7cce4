"""Sealed successors open only with the token they were sealed under, and only unaltered."""

from __future__ import annotations

import base64

from authgate.sealing import seal, unseal


def test_round_trip_and_fresh_nonce():
    sealed = seal("presented-token", b'{"access_token":"abc"}')
    assert unseal("presented-token", sealed) == b'{"access_token":"abc"}'
    assert seal("presented-token", b"x") != seal("presented-token", b"x")
    assert b"abc" not in base64.urlsafe_b64decode(sealed)


def test_long_plaintexts_span_several_keystream_blocks():
    plaintext = bytes(range(256)) * 3
    assert unseal("k", seal("k", plaintext)) == plaintext


def test_wrong_token_or_tampering_opens_nothing():
    sealed = seal("presented-token", b"secret successor")
    assert unseal("another-token", sealed) is None
    raw = bytearray(base64.urlsafe_b64decode(sealed))
    raw[20] ^= 1
    assert unseal("presented-token", base64.urlsafe_b64encode(bytes(raw)).decode()) is None
    assert unseal("presented-token", "not base64 at all!") is None
    assert unseal("presented-token", "") is None
