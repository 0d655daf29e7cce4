"""Sealing small secrets under a key only the holder of a token can derive.

Used for the refresh grace period (RFC 9700 section 4.14.2): the successor of a rotated
refresh token is kept on the consumed record, sealed with a key derived from the presented
refresh token. The store keeps only the token's SHA-256 digest, from which the key cannot
be derived, so a copy of the store opens nothing.

AES-256-GCM with a random 96-bit nonce; the key is HKDF-SHA256 of the token. A refresh token
is a random string of at least 16 characters of [A-Za-z0-9] (46 by default, 273 bits), so a
fast key derivation is enough: there is no password to stretch.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12  # the GCM nonce size (NIST SP 800-38D)
TAG_BYTES = 16
KEY_BYTES = 32
# Domain separation: the same token must never give this key for another purpose.
_INFO = b"authgate seal aes-256-gcm v2"


def _cipher(secret: str) -> AESGCM:
    # Imported on the first seal, not at start: cryptography costs each process about 9 MB,
    # and with the default settings (no refresh grace period) nothing is ever sealed.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    kdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_INFO)
    return AESGCM(kdf.derive(secret.encode()))


def seal(secret: str, plaintext: bytes) -> str:
    """`plaintext`, encrypted and authenticated under a key derived from `secret`."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = nonce + _cipher(secret).encrypt(nonce, plaintext, None)
    return base64.urlsafe_b64encode(sealed).decode("ascii")


def unseal(secret: str, sealed: str) -> bytes | None:
    """The plaintext, or None when `sealed` was not made with `secret` or was altered."""
    from cryptography.exceptions import InvalidTag  # on first use, as in _cipher

    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        return None
    nonce, ciphertext = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    try:
        return _cipher(secret).decrypt(nonce, ciphertext, None)
    except InvalidTag:
        return None
