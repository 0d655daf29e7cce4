"""RFC 7636 PKCE with the S256 method only: the challenge at the authorization endpoint, the
verifier at the token endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from authgate.errors import OAuthError
from authgate.models import TokenRecord

METHOD = "S256"  # `plain` is refused and not advertised (SPEC.md)

# RFC 7636 section 4.1 and 4.2: 43-128 characters of [A-Za-z0-9-._~] for both.
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding (RFC 7636 section 4.2)."""
    hashed = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()


def is_valid_verifier(verifier: str) -> bool:
    return _UNRESERVED.fullmatch(verifier) is not None


def is_valid_challenge(challenge: str) -> bool:
    return _UNRESERVED.fullmatch(challenge) is not None


def check_challenge(challenge: str | None, method: str | None, *, required: bool) -> None:
    """RFC 7636 section 4.3 at the authorization endpoint; an OAuthError redirects."""
    if method is not None and method != METHOD:
        raise OAuthError("invalid_request", "code_challenge_method must be S256")
    if challenge is None:
        if method is not None:
            raise OAuthError("invalid_request", "code_challenge is required")
        if required:
            raise OAuthError("invalid_request", "PKCE is required: send a S256 code_challenge")
        return
    if method is None:  # RFC 7636 would default to plain, which authgate refuses
        raise OAuthError("invalid_request", "code_challenge_method=S256 is required")
    if not is_valid_challenge(challenge):
        raise OAuthError("invalid_request", "code_challenge is malformed")


def check_pkce(record: TokenRecord, verifier: str | None) -> None:
    """RFC 7636 section 4.6, and RFC 9700 section 2.1.1: no verifier without a challenge."""
    if record.code_challenge is None:
        if verifier is not None:
            raise OAuthError("invalid_grant", "code_verifier sent for a code without PKCE")
        return
    if verifier is None:
        raise OAuthError("invalid_grant", "code_verifier is required")
    if not is_valid_verifier(verifier) or not hmac.compare_digest(
        s256(verifier), record.code_challenge
    ):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
