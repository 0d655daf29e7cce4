"""Sealing small secrets under a key only the holder of a token can derive (stdlib only).

Used for the refresh grace period (RFC 9700 section 4.14.2): the successor of a rotated
refresh token is kept on the consumed record, sealed with keys derived from the presented
refresh token. The store keeps only the token's SHA-256 digest, from which the keys cannot
be derived, so a copy of the store opens nothing.

Construction: encrypt-then-MAC. HMAC-SHA256 in counter mode is the keystream (a PRF in CTR
mode), HMAC-SHA256 over nonce and ciphertext is the tag; both keys come from HMAC-SHA256
of the token with distinct labels.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

NONCE_BYTES = 16
TAG_BYTES = 32
_BLOCK = hashlib.sha256().digest_size


def _keys(secret: str) -> tuple[bytes, bytes]:
    root = secret.encode()
    encryption = hmac.new(root, b"authgate seal encryption v1", hashlib.sha256).digest()
    authentication = hmac.new(root, b"authgate seal authentication v1", hashlib.sha256).digest()
    return encryption, authentication


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (length + _BLOCK - 1) // _BLOCK
    stream = b"".join(
        hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        for counter in range(blocks)
    )
    return stream[:length]


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(
        len(data), "big"
    )


def seal(secret: str, plaintext: bytes) -> str:
    """`plaintext`, encrypted and authenticated under keys derived from `secret`."""
    encryption, authentication = _keys(secret)
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = _xor(plaintext, _keystream(encryption, nonce, len(plaintext)))
    tag = hmac.new(authentication, nonce + ciphertext, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(nonce + ciphertext + tag).decode("ascii")


def unseal(secret: str, sealed: str) -> bytes | None:
    """The plaintext, or None when `sealed` was not made with `secret` or was altered."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        return None
    nonce, ciphertext, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-TAG_BYTES], raw[-TAG_BYTES:]
    encryption, authentication = _keys(secret)
    expected = hmac.new(authentication, nonce + ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(tag, expected):
        return None
    return _xor(ciphertext, _keystream(encryption, nonce, len(ciphertext)))
